import Glibc
import TorusRing
import TorusChannels

/// Submitting one operation to the core's ring and awaiting its completion.
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
    func submitAndAwait(
        keepAlive: AnyObject? = nil,
        cancellable: Bool = true,
        _ prepare: (SubmissionEntry, OperationID) -> Void
    ) async -> Int32 {
        precondition(isCurrent, "ring operations must be submitted from core \(index)'s own thread")
        if stopping { return -ECANCELED }
        // Inside a deadline scope the time left travels with the SQE as a linked timeout; a
        // deadline already passed refuses the operation as a cancellation would.
        var timeLimit: Duration?
        var scopeHook: (scope: CancelScope, token: UInt64)?
        let id: OperationID
        if let scope = CancelScope.ofCurrentTask {
            if scope.isExpired { return -ECANCELED }
            timeLimit = scope.remaining
            id = operations.reserve(keepAlive: keepAlive)
            // A token can fire at any time: it cancels the operation in the kernel (from any
            // thread; a cancel before submission keeps it from being submitted at all).
            if scope.firesExternally {
                guard let token = scope.register({ [self] in cancelOperation(id) }, armsTimer: false) else {
                    operations.release(id, wasSubmitted: false)
                    return -ECANCELED
                }
                scopeHook = (scope, token)
            }
        } else {
            id = operations.reserve(keepAlive: keepAlive)
        }
        defer { if let scopeHook { scopeHook.scope.unregister(scopeHook.token) } }
        guard cancellable else {
            if Task.isCancelled || operations.isCancelRequested(id) {
                operations.release(id, wasSubmitted: false)
                return -ECANCELED
            }
            return await withUnsafeContinuation { (continuation: UnsafeContinuation<Int32, Never>) in
                submit(id, continuation, timeLimit: timeLimit, prepare)
            }
        }
        return await withTaskCancellationHandler {
            await withUnsafeContinuation { (continuation: UnsafeContinuation<Int32, Never>) in
                if operations.isCancelRequested(id) || Task.isCancelled || stopping {
                    operations.release(id, wasSubmitted: false)
                    continuation.resume(returning: -ECANCELED)
                    return
                }
                submit(id, continuation, timeLimit: timeLimit, prepare)
            }
        } onCancel: {
            self.cancelOperation(id)
        }
    }

    /// Fills and queues the SQE of a reserved operation whose completion resumes `continuation`,
    /// followed by an `IORING_OP_LINK_TIMEOUT` when the operation has a time limit.
    @inline(__always)
    private func submit(
        _ id: OperationID, _ continuation: UnsafeContinuation<Int32, Never>, timeLimit: Duration?,
        _ prepare: (SubmissionEntry, OperationID) -> Void
    ) {
        guard let timeLimit else {
            let entry = nextEntry()
            prepare(entry, id)
            entry.setUserData(id.userData)
            operations.markSubmitted(id, waiter: .continuation(continuation))
            return
        }
        // Both entries must go to the kernel in one submission (a link ends at a submission's
        // boundary): one more entry than usual is kept free before the first is taken, and
        // nothing submits between the two.
        let entry = nextEntry(extra: 1)
        prepare(entry, id)
        entry.setUserData(id.userData)
        entry.addFlags(.link)
        // SAFETY: the link timespec lives in the operation's slot, which stays allocated until
        // the operation's final completion, after this submission (when the kernel copies it).
        let timespec = operations.linkTimespecPointer(for: id)
        timespec.pointee = KernelTimespec(timeLimit)
        guard let ring, let timeout = ring.nextEntry(reserving: 0) else {
            preconditionFailure("core \(index): no second SQE after reserving room for two")
        }
        timeout.prepareLinkTimeout(timespec)
        timeout.setUserData(ReservedUserData.ignored)
        operations.markSubmitted(id, waiter: .continuation(continuation))
    }

    /// An SQE for a new operation, keeping room for cancels. If the kernel cannot take the
    /// queued entries (its completion queue is overflowing), completions are reaped until it can.
    /// - Parameter extra: entries to keep free beyond the cancel reserve, for linked entries
    ///   that must follow this one in the same submission.
    func nextEntry(extra: UInt32 = 0) -> SubmissionEntry {
        guard let ring else { preconditionFailure("core \(index) has no ring") }
        while true {
            if let entry = ring.nextEntry(reserving: Core.cancelReserve + extra) { return entry }
            ring.submitAndGetEvents()
            reapCompletions(ring)
        }
    }

    /// Cancels an operation from any thread.
    func cancelOperation(_ id: OperationID) {
        guard isCurrent else {
            send(.cancel(id))
            return
        }
        guard operations.requestCancel(id) else { return }
        submitCancel(id)
    }

    private func submitCancel(_ id: OperationID) {
        // Cancels may use the reserved slots; if even those are taken the cancel is retried on
        // the next loop turn rather than dropped.
        guard let ring, let entry = ring.nextEntry(reserving: 0) else {
            operations.cancelNotSent(id)
            pendingCancels.append(id)
            return
        }
        entry.prepareCancel(userData: id.userData)
        entry.setUserData(ReservedUserData.cancelRequest)
    }

    /// Cancels every operation in flight on descriptor `fd` on this core (core thread): what
    /// closing a descriptor that operations still hold asks of each core.
    func cancelOperations(onDescriptor fd: Int32) {
        // Sent with `execute` to every core; a core that has stopped runs it on another thread
        // (`Core.runElsewhere`), with nothing left in flight to cancel and no ring to touch.
        guard isCurrent, let ring, !stopping else { return }
        // Queued behind every SQE already in the ring, so an operation prepared before the close
        // is submitted first and found by the cancel. The cancel reserve is there for this.
        guard let entry = ring.nextEntry(reserving: 0) else {
            ring.submitAndGetEvents()
            reapCompletions(ring)
            return cancelOperations(onDescriptor: fd)
        }
        entry.prepareCancel(fd: fd)
        entry.setUserData(ReservedUserData.cancelRequest)
    }

    func retryPendingCancels() {
        guard !pendingCancels.isEmpty else { return }
        let retry = pendingCancels
        pendingCancels.removeAll()
        for id in retry where operations.requestCancel(id) { submitCancel(id) }
    }

    /// Arms an `IORING_OP_TIMEOUT` that enqueues `job` when it fires (core thread).
    func armTimer(_ job: UnownedJob, nanoseconds: Int64) {
        assertOnCore()
        if stopping {
            local.push(job)
            return
        }
        submitTimeout(KernelTimespec(seconds: nanoseconds / 1_000_000_000, nanoseconds: nanoseconds % 1_000_000_000), waiter: .job(job))
    }

    /// Arms an `IORING_OP_TIMEOUT` that calls `handler` on this core with its result (`-ETIME`
    /// when it fired, `-ECANCELED` when ``cancelOperation(_:)`` took it back). Core thread only.
    func armCallbackTimer(after duration: Duration, _ handler: @escaping (Int32) -> Void) -> OperationID {
        assertOnCore()
        if stopping {
            let id = operations.reserve(keepAlive: nil)
            operations.release(id, wasSubmitted: false)
            handler(-ECANCELED)
            return id
        }
        return submitTimeout(KernelTimespec(duration), waiter: .handler { completion in handler(completion.result) })
    }

    /// Queues an `IORING_OP_TIMEOUT` for `timespec` (kept in the operation's slot, which lives
    /// until the completion) whose completion goes to `waiter`: the one step both timer kinds use.
    @discardableResult
    private func submitTimeout(_ timespec: KernelTimespec, waiter: OperationWaiter) -> OperationID {
        let id = operations.reserve(keepAlive: nil)
        let pointer = operations.timespecPointer(for: id)
        pointer.pointee = timespec
        let entry = nextEntry()
        entry.prepareTimeout(pointer)
        entry.setUserData(id.userData)
        operations.markSubmitted(id, waiter: waiter)
        return id
    }
}
