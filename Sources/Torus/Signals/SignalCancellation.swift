extension SignalListener {
    /// What ``cancelling(_:)`` ran into: the body's result, and the signal that cancelled it.
    public struct Outcome<Value: Sendable>: Sendable {
        /// What the body returned or threw (`CancellationError`, typically, if a signal came).
        public var result: Result<Value, any Error>
        /// The signal that arrived while the body ran (nil if none did).
        public var signal: ProcessSignal?
    }

    /// Runs `body` until it returns or one of the listener's signals arrives, which cancels it;
    /// waits for `body` to finish either way. tokio's `select! { _ = ctrl_c() => ..., r = work
    /// => ... }` in one call, with no watcher task left behind to hold up a runtime's shutdown
    /// for its grace period (the pitfall of spawning a watcher by hand).
    ///
    /// ```swift
    /// let signals = try SignalListener([.interrupt, .terminate])   // before the work starts
    /// let outcome = try runtime.block { await signals.cancelling { try await server.run() } }
    /// if let signal = outcome.signal { print("stopped by \(signal)") }
    /// ```
    ///
    /// Cancel safety: nothing is lost: cancelling the calling task cancels `body` (a child
    /// task) and the signal watcher, and the call still waits for `body` and returns its result,
    /// whatever it was. A signal that came while `body` ran is reported in the outcome and
    /// marked as seen by this listener.
    public func cancelling<Value: Sendable>(_ body: @escaping @Sendable () async throws -> Value) async -> Outcome<Value> {
        await withTaskGroup(of: SignalRaceEvent<Value>.self) { group in
            group.addTask {
                do { return .finished(.success(try await body())) } catch { return .finished(.failure(error)) }
            }
            group.addTask {
                guard let signal = try? await self.next() else { return .watcherStopped }
                return .signalled(signal)
            }
            var outcome: Outcome<Value>?
            var signal: ProcessSignal?
            for await event in group {
                switch event {
                case .finished(let result):
                    outcome = Outcome(result: result, signal: signal)
                    group.cancelAll()  // the watcher, if no signal came
                case .signalled(let received):
                    signal = received
                    group.cancelAll()  // the body
                case .watcherStopped:
                    break
                }
            }
            // The loop ends once both children have, and the body always reports `.finished`.
            return outcome ?? Outcome(result: .failure(CancellationError()), signal: signal)
        }
    }
}

/// What each side of ``SignalListener/cancelling(_:)`` reports.
private enum SignalRaceEvent<Value: Sendable>: Sendable {
    case finished(Result<Value, any Error>)
    case signalled(ProcessSignal)
    case watcherStopped
}
