import Synchronization

/// The one pattern every primitive here uses to wait: register a waiter under the primitive's
/// lock (unless the wait can be satisfied or refused on the spot), and on cancellation take the
/// waiter back out under the same lock. Whoever removes the waiter resumes it, exactly once,
/// after the lock is released.
///
/// - `register` runs under the caller's lock inside the continuation closure: it returns either
///   an immediate result, or nil after queueing the waiter and reporting its id through `setID`.
///   It refuses (returns the cancelled value) when ``isWaitCancelled``.
/// - `cancel` runs on cancellation with the id (if one was registered); it returns the waiter if
///   it was still queued, and then the suspension resumes with `cancelledValue`.
///
/// Inside a ``withDeadline(_:isolation:_:)`` scope the deadline cancels the wait the same way,
/// through a hook the scope's timer runs.
@inlinable func suspend<Value: Sendable>(
    register: (Resumable<Value>, _ setID: (UInt64) -> Void) -> Value?,
    cancel: @escaping @Sendable (UInt64) -> Resumable<Value>?,
    cancelledValue: Value
) async -> Value {
    let id = Lock<UInt64?>(nil)
    let cancelWaiter: @Sendable () -> Void = {
        // `id` is set under the primitive's lock, and `cancel` takes the same lock, so either the
        // waiter is found here or it was never queued (register saw the cancellation).
        guard let waiterID = id.withLock({ $0 }), let waiter = cancel(waiterID) else { return }
        waiter.resume(cancelledValue)
    }
    // The hook's token lives in a lock only when a scope exists: the common path allocates
    // nothing more than it did before scopes.
    let scope = CancelScope.ofCurrentTask
    let hook = scope.map { _ in Lock<UInt64?>(nil) }
    // The `_unsafeInheritExecutor_` forms: the `isolation:` ones switch to the caller's
    // isolation on entry and after the resumption, each switch reading the task's executor
    // preference under a lock; this code already runs there, and resumes where it suspended.
    let value = await _unsafeInheritExecutor_withTaskCancellationHandler {
        await _unsafeInheritExecutor_withUnsafeContinuation { (continuation: UnsafeContinuation<Value, Never>) in
            if let immediate = register(.task(continuation), { waiterID in id.withLock { $0 = waiterID } }) {
                continuation.resume(returning: immediate)
                return
            }
            // Queued: a scope's deadline or token takes the waiter back like a cancellation. If
            // it fired in between, do that now.
            guard let scope, let hook else { return }
            if let token = scope.register(cancelWaiter) {
                hook.withLock { $0 = token }
            } else {
                cancelWaiter()
            }
        }
    } onCancel: {
        cancelWaiter()
    }
    if let scope, let token = hook?.withLock({ $0 }) { scope.unregister(token) }
    return value
}
