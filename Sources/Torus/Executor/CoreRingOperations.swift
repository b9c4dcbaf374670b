import Glibc
import TorusChannels
import TorusRing

/// Submitting one operation to the core's ring and awaiting its completion: where the task
/// (cancellation, cancel scopes, the continuation) meets the driver (slots, SQEs, CQEs).
///
/// The cancellation contract: when the awaiting task is cancelled, an `ASYNC_CANCEL` for the
/// operation is queued (from the core's thread; a cancel from another thread travels through
/// the mailbox), and the call still waits for the operation's final completion before it
/// returns. Its result is then whatever the kernel reported: `-ECANCELED` if the cancel won,
/// the real result if the operation finished first. Memory the kernel may touch is owned by
/// `keepAlive` and released only after that final completion, so it can never be written after
/// the caller has moved on.
extension Core {
    /// Submits the SQE that `prepare` fills in and suspends until its final completion.
    ///
    /// Must be called on this core's thread (the task runs with this core as its executor).
    /// - Parameter cancellable: whether cancelling the task cancels the operation in the kernel.
    ///   `false` for operations that complete in bounded time whatever happens (reads and writes
    ///   of regular files, which the kernel cannot cancel once issued anyway): they skip the
    ///   cancellation handler, the largest single cost of a short operation after the kernel's
    ///   own work. A task already cancelled still never submits one.
    /// - Returns: the CQE result: non-negative on success, `-errno` on failure; `-ECANCELED` if
    ///   the task was cancelled before the operation could start or the core is stopping.
    nonisolated(nonsending) func submitAndAwait(
        keepAlive: AnyObject? = nil,
        cancellable: Bool = true,
        _ prepare: (SubmissionEntry, OperationID) -> Void
    ) async -> Int32 {
        precondition(isCurrent, "ring operations must be submitted from core \(index)'s own thread")
        // `driver` is read through `self` each time rather than kept in a local: a local would
        // be retained across the suspension (an atomic per operation); `self` is kept anyway.
        if driver.stopping { return -ECANCELED }
        // Inside a deadline scope the time left travels with the SQE as a linked timeout; a
        // deadline already passed refuses the operation as a cancellation would.
        var timeLimit: Duration?
        var scopeHook: (scope: CancelScope, token: UInt64)?
        let id: OperationID
        if let scope = CancelScope.ofCurrentTask {
            if scope.isExpired { return -ECANCELED }
            timeLimit = scope.remaining
            id = driver.operations.reserve(keepAlive: keepAlive)
            // A token can fire at any time: it cancels the operation in the kernel (from any
            // thread; a cancel before submission keeps it from being submitted at all).
            if scope.firesExternally {
                guard let token = scope.register({ [self] in cancelOperation(id) }, armsTimer: false) else {
                    driver.operations.release(id)
                    return -ECANCELED
                }
                scopeHook = (scope, token)
            }
        } else {
            id = driver.operations.reserve(keepAlive: keepAlive)
        }
        defer { if let scopeHook { scopeHook.scope.unregister(scopeHook.token) } }
        // The `_unsafeInheritExecutor_` forms of the standard library's `withUnsafeContinuation`
        // and `withTaskCancellationHandler` (public, kept for ABI), not the `isolation:` forms:
        // those switch to the caller's isolation on entry and again after the resumption, and
        // every `swift_task_switch` reads the task's executor preference under its status-record
        // lock (a mutex). This function is `nonisolated(nonsending)`, so it already runs where
        // its caller is, and a continuation resumes on the executor it was created on: those
        // switches could only find the task where it was. Counted with a uprobe: a file read's
        // switches 2 -> 1, a cancellable socket operation's 4 -> 2 (the handler's operation
        // closure still switches once on entry); -3% CPU per 4 KiB read (docs/benchmarks.md).
        guard cancellable else {
            if Task.isCancelled || driver.operations.isCancelRequested(id) {
                driver.operations.release(id)
                return -ECANCELED
            }
            return await _unsafeInheritExecutor_withUnsafeContinuation { (continuation: UnsafeContinuation<Int32, Never>) in
                driver.submit(id, waiter: .continuation(continuation), timeLimit: timeLimit, prepare)
            }
        }
        return await _unsafeInheritExecutor_withTaskCancellationHandler {
            await _unsafeInheritExecutor_withUnsafeContinuation { (continuation: UnsafeContinuation<Int32, Never>) in
                if driver.operations.isCancelRequested(id) || Task.isCancelled || driver.stopping {
                    driver.operations.release(id)
                    continuation.resume(returning: -ECANCELED)
                    return
                }
                driver.submit(id, waiter: .continuation(continuation), timeLimit: timeLimit, prepare)
            }
        } onCancel: {
            self.cancelOperation(id)
        }
    }

    /// Cancels an operation from any thread: on the core's thread at once, from anywhere else
    /// through the mailbox (the driver is core-thread only).
    func cancelOperation(_ id: OperationID) {
        guard isCurrent else {
            send(.cancel(id))
            return
        }
        driver.cancel(id)
    }

    /// Cancels every operation in flight on descriptor `fd` on this core (core thread): what
    /// closing a descriptor that operations still hold asks of each core.
    func cancelOperations(onDescriptor fd: Int32) {
        // Sent with `execute` to every core; a core that has stopped runs it on another thread
        // (`Core.runElsewhere`), with nothing left in flight to cancel and no ring to touch.
        guard isCurrent else { return }
        driver.cancelOperations(onDescriptor: fd)
    }

    /// Submits an operation whose completions go to `handler` on this core instead of to a
    /// waiting task: every completion of a multishot operation until one arrives without
    /// `IORING_CQE_F_MORE`, or the one completion of a one-shot operation (a ``SendQueue``'s
    /// sends). `keepAlive` lives until the last. Returns the id to cancel it with
    /// (``cancelOperation(_:)``). A stopping core cancels what is in flight: the handler then
    /// sees `-ECANCELED`.
    func submitCallingBack(
        keepAlive: AnyObject?,
        handler: @escaping (Completion) -> Void,
        _ prepare: (SubmissionEntry) -> Void
    ) -> OperationID {
        assertOnCore()
        return driver.submitMultishot(keepAlive: keepAlive, handler: handler, prepare)
    }

    /// Arms an `IORING_OP_TIMEOUT` that enqueues `job` when it fires (core thread).
    func armTimer(_ job: UnownedJob, nanoseconds: Int64) {
        assertOnCore()
        if driver.stopping {
            local.push(job)
            return
        }
        driver.submitTimeout(
            KernelTimespec(seconds: nanoseconds / 1_000_000_000, nanoseconds: nanoseconds % 1_000_000_000), waiter: .job(job))
    }

    /// Arms an `IORING_OP_TIMEOUT` that calls `handler` on this core with its result (`-ETIME`
    /// when it fired, `-ECANCELED` when ``cancelOperation(_:)`` took it back). Core thread only.
    func armCallbackTimer(after duration: Duration, _ handler: @escaping (Int32) -> Void) -> OperationID {
        assertOnCore()
        return driver.armCallbackTimer(after: duration, handler)
    }

    /// This core's provided receive buffers, the first group registered on first use.
    func receiveBufferPool() throws -> ProvidedBufferPool {
        assertOnCore()
        return try driver.receiveBufferPool()
    }

    /// The provided receive buffers (core thread).
    var receiveBuffers: ProvidedBufferPool { driver.receiveBuffers }

    /// Whether the core is stopping: ring operations are refused with `-ECANCELED`.
    var stopping: Bool { driver.stopping }
}
