import TorusChannels

/// The outcome of a runtime's one shutdown, for the callers that did not perform it: a
/// second `shutdown()` blocks on it, a second `await shutdown()` suspends on it.
///
/// Whichever call starts the shutdown (sync or async) performs it and completes this; every
/// other call, of either kind, gets the same report.
final class ShutdownCompletion: Sendable {
    private struct State {
        var report: ShutdownReport?
        var waiters: [UnsafeContinuation<ShutdownReport, Never>] = []
    }

    // A pthread condition rather than a `Mutex`: synchronous callers wait on it.
    private let state = ConditionLock(State())

    /// Records the report and wakes every waiter, sync and async. Called once.
    func complete(_ report: ShutdownReport) {
        let waiters = state.withLockBroadcasting { state in
            precondition(state.report == nil, "a runtime's shutdown completed twice")
            state.report = report
            defer { state.waiters.removeAll() }
            return state.waiters
        }
        // Resumed after unlocking: a resumed task may run at once on this thread.
        for waiter in waiters { waiter.resume(returning: report) }
    }

    /// Blocks the calling thread until the shutdown is complete.
    func wait() -> ShutdownReport {
        state.wait { $0.report }!
    }

    /// Suspends until the shutdown is complete, without blocking a thread. Not cancellable:
    /// the shutdown it waits for ends in bounded time (grace period plus cancellation wait).
    func value() async -> ShutdownReport {
        await withUnsafeContinuation { continuation in
            let report: ShutdownReport? = state.withLock { state in
                if let report = state.report { return report }
                state.waiters.append(continuation)
                return nil
            }
            if let report { continuation.resume(returning: report) }
        }
    }
}
