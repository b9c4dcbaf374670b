import Glibc
import Synchronization

/// One branch of ``select(biased:_:otherwise:isolation:)``: an event it can wait for without
/// taking anything, and what to do with the event when this branch wins.
///
/// A branch is polled, never raced: the select first asks each branch whether its event is
/// ready and takes it from the first that is; only when none is does it arm a watch on every
/// branch and sleep until one fires. So a channel branch that loses takes no value, and a
/// value is taken exactly once, by the branch that wins.
///
/// Handlers run in the calling task after the branch won, so they may use its non-`Sendable`
/// state and may `await`.
public struct SelectBranch<Output> {
    /// Takes the event if it is ready now (only then) and returns the handler applied to it.
    @usableFromInline let attempt: () -> (() async throws -> Output)?
    /// Arms a watch that fires the signal when the event may be ready (at once if it is now);
    /// returns what disarms it.
    @usableFromInline let watch: (SelectSignal) -> SelectWatch
    /// For an operation branch: starts a fresh run (forgetting the result of an earlier select
    /// that used this branch) and returns the work to run as a child task while the select waits.
    @usableFromInline let operation: (() -> @Sendable () async -> Void)?

    @inlinable init(
        attempt: @escaping () -> (() async throws -> Output)?,
        watch: @escaping (SelectSignal) -> SelectWatch,
        operation: (() -> @Sendable () async -> Void)? = nil
    ) {
        self.attempt = attempt
        self.watch = watch
        self.operation = operation
    }
}

/// How to take back an armed watch.
@usableFromInline struct SelectWatch {
    @usableFromInline let disarm: (() -> Void)?
    @inlinable init(disarm: (() -> Void)?) { self.disarm = disarm }
}

// MARK: channels

extension SelectBranch {
    /// Receives from an MPSC channel: `handler` gets the value, or nil once the channel is
    /// closed and drained. A losing branch takes nothing.
    @inlinable public static func receive<Value>(
        from receiver: MPSC.Receiver<Value>,
        then handler: @escaping (Value?) async throws -> Output
    ) -> SelectBranch {
        let storage = receiver.storage
        return SelectBranch(
            attempt: {
                switch storage.tryReceive() {
                case .value(let value): return { try await handler(value) }
                case .closed: return { try await handler(nil) }
                case .empty: return nil
                }
            },
            watch: { signal in
                let id = storage.watchReceive(signal)
                return SelectWatch(disarm: id.map { id in { storage.unwatchReceive(id) } })
            })
    }

    /// Sends `value` when the channel has room: `handler` gets `.success` once it is queued, or
    /// the ``SendError`` (with the value) if the receiver is gone. A losing branch sends nothing.
    public static func send<Value>(
        _ value: Value,
        to sender: MPSC.Sender<Value>,
        then handler: @escaping (Result<Void, SendError<Value>>) async throws -> Output
    ) -> SelectBranch {
        let storage = sender.storage
        return SelectBranch(
            attempt: {
                do throws(TrySendError<Value>) {
                    try sender.trySend(value)
                    return { try await handler(.success(())) }
                } catch .full {
                    return nil
                } catch {
                    return { try await handler(.failure(SendError(reason: .closed, value: error.value))) }
                }
            },
            watch: { signal in
                let id = storage.watchSend(signal)
                return SelectWatch(disarm: id.map { id in { storage.unwatchSend(id) } })
            })
    }

    /// Receives from a broadcast channel: `handler` gets the value, or the
    /// ``BroadcastError`` (`.lagged`, `.closed`). A losing branch does not move the receiver.
    public static func receive<Value>(
        from receiver: Broadcast.Receiver<Value>,
        then handler: @escaping (Result<Value, BroadcastError>) async throws -> Output
    ) -> SelectBranch {
        SelectBranch(
            attempt: {
                guard let result = receiver.tryReceive() else { return nil }
                return { try await handler(result) }
            },
            watch: { signal in
                let id = receiver.storage.watch(signal, at: receiver.cursor.withLock { $0 })
                return SelectWatch(disarm: id.map { id in { receiver.storage.unwatch(id) } })
            })
    }

    /// Waits for a change of a watch channel: `handler` gets the new value (now marked seen),
    /// or nil once the sender is gone. A losing branch marks nothing seen.
    public static func changed<Value>(
        _ receiver: Watch.Receiver<Value>,
        then handler: @escaping (Value?) async throws -> Output
    ) -> SelectBranch {
        SelectBranch(
            attempt: {
                switch receiver.tryChanged() {
                case .changed(let value): return { try await handler(value) }
                case .closed: return { try await handler(nil) }
                case .unchanged: return nil
                }
            },
            watch: { signal in
                let id = receiver.storage.watch(signal, after: receiver.seen.withLock { $0 })
                return SelectWatch(disarm: id.map { id in { receiver.storage.unwatch(id) } })
            })
    }

    /// Waits for the value of a oneshot channel: `handler` gets it, or
    /// ``OneshotError/senderDropped``.
    public static func value<Value>(
        of receiver: Oneshot.Receiver<Value>,
        then handler: @escaping (Result<Value, OneshotError>) async throws -> Output
    ) -> SelectBranch {
        SelectBranch(
            attempt: {
                guard let outcome = receiver.storage.peek() else { return nil }
                return { try await handler(outcome) }
            },
            watch: { signal in
                let id = receiver.storage.watch(signal)
                return SelectWatch(disarm: id.map { id in { receiver.storage.unwatch(id) } })
            })
    }
}

// MARK: time

extension SelectBranch {
    /// Fires `duration` after the branch is made (each time a select loop builds it, as tokio's
    /// `sleep` in a `select!`), served by a ring timer on the caller's core.
    @inlinable public static func sleep(for duration: Duration, then handler: @escaping () async throws -> Output) -> SelectBranch {
        sleep(until: ContinuousClock.now.advanced(by: duration), then: handler)
    }

    /// Fires at `deadline`.
    @inlinable public static func sleep(until deadline: ContinuousClock.Instant, then handler: @escaping () async throws -> Output) -> SelectBranch {
        SelectBranch(
            attempt: { ContinuousClock.now >= deadline ? handler : nil },
            watch: { signal in armSelectTimer(signal, at: deadline) })
    }
}

/// A ring timer on the caller's core that fires `signal` at `deadline` (a sleeping task off a
/// core); disarming cancels it in the kernel.
@usableFromInline func armSelectTimer(_ signal: SelectSignal, at deadline: ContinuousClock.Instant) -> SelectWatch {
    let left = ContinuousClock.now.duration(to: deadline)
    if left <= .zero {
        signal.fire()
        return SelectWatch(disarm: nil)
    }
    guard let host = RuntimeThread.timers else {
        let timer = Task {
            try? await Task.sleep(for: left)
            signal.fire()
        }
        return SelectWatch(disarm: { timer.cancel() })
    }
    let id = host.armTimer(after: left) { fired in
        if fired { signal.fire() }
    }
    return SelectWatch(disarm: { host.cancelTimer(id) })
}

// MARK: any operation

/// The result of an operation branch, written by its child task and read by the select.
@usableFromInline final class SelectOperationResult<Value: Sendable>: Sendable {
    @usableFromInline struct State {
        @usableFromInline var result: Result<Value, any Error>?
        @usableFromInline var signal: SelectSignal?
        @usableFromInline var taken = false
    }

    @usableFromInline let state = Lock(State())
    @usableFromInline init() {}

    @usableFromInline func complete(_ result: Result<Value, any Error>) {
        let signal = state.withLock { state -> SelectSignal? in
            state.result = result
            return state.signal
        }
        signal?.fire()
    }

    @usableFromInline func take() -> Result<Value, any Error>? {
        state.withLock { state in
            guard !state.taken, let result = state.result else { return nil }
            state.taken = true
            return result
        }
    }

    /// Forgets the previous run, when a select reuses the branch.
    @usableFromInline func reset() {
        state.withLock { $0 = State() }
    }

    @usableFromInline func watch(_ signal: SelectSignal) {
        let ready = state.withLock { state -> Bool in
            state.signal = signal
            return state.result != nil
        }
        if ready { signal.fire() }
    }
}

extension SelectBranch {
    /// Any async operation, run as a child task of the select on the caller's core; `handler`
    /// gets its result, or the select rethrows what it threw.
    ///
    /// Cancel safety: when another branch wins, the operation is cancelled and awaited before
    /// the select returns, and a result it produced anyway is dropped. A sleep loses nothing
    /// that way, but a socket read or accept that the kernel completed in the same instant as
    /// the cancel has taken its bytes (or its connection) from the socket, and they are dropped
    /// with the result (rarely: only in that race). To stop reads with a time limit and lose
    /// nothing, use ``withTimeout(_:isolation:_:)``, whose stopped read returns the bytes it got;
    /// for channels use their own branches, which take a value only when they win.
    public static func operation<Value: Sendable>(
        _ operation: @escaping @Sendable () async throws -> Value,
        then handler: @escaping (Value) async throws -> Output
    ) -> SelectBranch {
        let result = SelectOperationResult<Value>()
        return SelectBranch(
            attempt: {
                switch result.take() {
                case .success(let value): return { try await handler(value) }
                case .failure(let error): return { throw error }
                case nil: return nil
                }
            },
            watch: { signal in
                result.watch(signal)
                return SelectWatch(disarm: nil)
            },
            operation: {
                result.reset()
                return {
                    do {
                        result.complete(.success(try await operation()))
                    } catch {
                        result.complete(.failure(error))
                    }
                }
            })
    }
}
