import Synchronization

/// The async shutdown's wait for the runtime's tasks: the same question as
/// `RuntimeShared.waitForTasks(deadlineNanoseconds:)`, answered without blocking a thread.
extension RuntimeShared {
    /// Calls `callback` once no spawned task is left: now if none is, else when the last one
    /// ends. Shutdown only (the phase is no longer `running`): outside it the last task does
    /// not look for callbacks.
    ///
    /// The count is read under the callbacks' lock, and the last task takes that lock after
    /// its decrement: either the check here sees zero or that task finds the callback.
    func whenTasksDrained(_ callback: @escaping @Sendable () -> Void) {
        let drainedNow = drainedCallbacks.withLock { callbacks in
            if liveTasks.load(ordering: .sequentiallyConsistent) == 0 { return true }
            callbacks.append(callback)
            return false
        }
        if drainedNow { callback() }
    }

    /// Runs and forgets the callbacks registered so far (the last task just ended).
    func runDrainedCallbacks() {
        let callbacks = drainedCallbacks.withLock { callbacks in
            defer { callbacks.removeAll() }
            return callbacks
        }
        for callback in callbacks { callback() }
    }

    /// Suspends until no spawned task is left or `timeout` has passed; returns how many are
    /// left. Nothing blocks meanwhile: the timeout is a `Task.sleep` on Swift's global
    /// executor (never on this runtime's cores, which may be the ones being waited for).
    func waitForTasks(timeout: Duration) async -> Int {
        if liveTasks.load(ordering: .sequentiallyConsistent) > 0 {
            await withUnsafeContinuation { (continuation: UnsafeContinuation<Void, Never>) in
                let wake = WakeOnce(continuation)
                wake.arm(
                    Task(executorPreference: globalConcurrentExecutor) {
                        try? await Task.sleep(for: timeout)
                        wake.resume()
                    })
                whenTasksDrained { wake.resume() }
            }
        }
        return liveTasks.load(ordering: .acquiring)
    }
}

/// Resumes a continuation once, from whichever comes first of a timer and an event, and
/// cancels the timer if the event won (so that no sleeping task outlives the wait).
private final class WakeOnce: Sendable {
    private struct State {
        var continuation: UnsafeContinuation<Void, Never>?
        var timer: Task<Void, Never>?
    }

    private let state: Mutex<State>

    init(_ continuation: UnsafeContinuation<Void, Never>) {
        state = Mutex(State(continuation: continuation))
    }

    /// Keeps the timer to cancel later, or cancels it now if the wait is already over.
    func arm(_ timer: Task<Void, Never>) {
        let over = state.withLock { state in
            if state.continuation == nil { return true }
            state.timer = timer
            return false
        }
        if over { timer.cancel() }
    }

    func resume() {
        let (continuation, timer) = state.withLock { state in
            defer { state = State() }
            return (state.continuation, state.timer)
        }
        timer?.cancel()
        continuation?.resume()
    }
}
