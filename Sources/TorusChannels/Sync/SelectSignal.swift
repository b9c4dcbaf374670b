import Synchronization

/// The wake-up of one ``select(biased:_:otherwise:isolation:)`` call: an auto-reset event that
/// its branches' watches fire from any thread when they may have become ready.
///
/// A fire that comes before the select waits is remembered, so arming a watch and then waiting
/// can never miss a wake-up; a fire after the select finished lands on a signal nobody waits on
/// and does nothing.
@usableFromInline final class SelectSignal: Sendable {
    @usableFromInline enum State {
        case idle
        case fired
        case waiting(UnsafeContinuation<Void, Never>)
    }

    @usableFromInline let state = Lock(State.idle)

    @usableFromInline init() {}

    /// Wakes the waiting select, or marks the signal so its next wait returns at once.
    @usableFromInline func fire() {
        let waiter = state.withLock { state -> UnsafeContinuation<Void, Never>? in
            switch state {
            case .waiting(let continuation):
                state = .idle
                return continuation
            case .idle:
                state = .fired
                return nil
            case .fired:
                return nil
            }
        }
        waiter?.resume()
    }

    /// Waits until fired, the task is cancelled, or the deadline of its scope passes. The caller
    /// checks which.
    @usableFromInline func wait() async {
        let scope = CancelScope.ofCurrentTask
        let token = scope?.register { [self] in fire() }
        if scope != nil && token == nil { return }  // the deadline has passed
        // The inheriting forms: no executor switches around the wait (see `suspend`).
        await _unsafeInheritExecutor_withTaskCancellationHandler {
            await _unsafeInheritExecutor_withUnsafeContinuation { (continuation: UnsafeContinuation<Void, Never>) in
                let ready = state.withLock { state -> Bool in
                    if case .fired = state {
                        state = .idle
                        return true
                    }
                    if Task.isCancelled { return true }
                    state = .waiting(continuation)
                    return false
                }
                if ready { continuation.resume() }
            }
        } onCancel: {
            fire()
        }
        if let scope, let token { scope.unregister(token) }
    }

    /// Where an unbiased select starts polling, so that no branch is favoured over many calls.
    @usableFromInline static func rotatingStart(count: Int) -> Int {
        Int(truncatingIfNeeded: nextStart.wrappingAdd(1, ordering: .relaxed).oldValue % UInt64(count))
    }

    private static let nextStart = Atomic<UInt64>(0)
}
