import Glibc
import TorusRing

/// Queuing operations: the SQE is prepared in place, tagged with the operation's `user_data`,
/// and the slot moves to `inFlight` with its waiter. The owner's next `io_uring_enter` hands it
/// to the kernel (or `nextEntry` does, when the SQ is full).
extension RingDriver {
    /// Fills and queues the SQE of reserved operation `id`, whose completion goes to `waiter`,
    /// followed by an `IORING_OP_LINK_TIMEOUT` when the operation has a time limit.
    ///
    /// The operation can be cancelled on this thread after its submitter looked (`reserved`
    /// then becomes `cancelRequested`): taking the entry may reap completions
    /// (``nextEntry(extra:)``, when the kernel does not take the queued entries), and a
    /// completion's handler may cancel it, as a deadline scope's timer does when it fires the
    /// hooks of the operations under a token in it. Such an operation must not reach the
    /// kernel: the entry becomes a NOP nobody waits for, the slot is released and `waiter` gets
    /// `-ECANCELED`, as for a cancel that came before the submitter looked.
    @inline(__always)
    func submit(
        _ id: OperationID, waiter: OperationWaiter, timeLimit: Duration?,
        _ prepare: (SubmissionEntry, OperationID) -> Void
    ) {
        guard let timeLimit else {
            let entry = nextEntry()
            prepare(entry, id)
            if operations.isCancelRequested(id) { return refuse(id, entry: entry, waiter: waiter) }
            entry.setUserData(id.userData)
            operations.markSubmitted(id, waiter: waiter)
            return
        }
        // Both entries must go to the kernel in one submission (a link ends at a submission's
        // boundary): one more entry than usual is kept free before the first is taken, and
        // nothing submits between the two.
        let entry = nextEntry(extra: 1)
        prepare(entry, id)
        if operations.isCancelRequested(id) { return refuse(id, entry: entry, waiter: waiter) }
        entry.setUserData(id.userData)
        entry.addFlags(.link)
        // SAFETY: the link timespec lives in the operation's slot, which stays allocated until
        // the operation's final completion, after this submission (when the kernel copies it).
        let timespec = operations.linkTimespecPointer(for: id)
        timespec.pointee = KernelTimespec(timeLimit)
        guard let ring, let timeout = ring.nextEntry(reserving: 0) else {
            preconditionFailure("ring driver: no second SQE after reserving room for two")
        }
        timeout.prepareLinkTimeout(timespec)
        timeout.setUserData(ReservedUserData.ignored)
        operations.markSubmitted(id, waiter: waiter)
    }

    /// An operation cancelled while it was being submitted: its entry, prepared already, is
    /// overwritten with a NOP whose completion is ignored, the slot released, and the waiter
    /// told `-ECANCELED` at once.
    private func refuse(_ id: OperationID, entry: SubmissionEntry, waiter: OperationWaiter) {
        entry.prepareNop()
        entry.setUserData(ReservedUserData.ignored)
        operations.release(id)
        switch waiter {
        case .continuation(let continuation): continuation.resume(returning: -ECANCELED)
        case .job(let job): readyJobs.push(job)
        case .handler(let handler): handler(Completion(userData: id.userData, result: -ECANCELED, flags: 0))
        case .batchMember(let batch, let index): batch.takeUnretainedValue().finish(index, result: -ECANCELED)
        case .none: break
        }
    }

    /// Submits a multishot operation: `handler` runs for every completion until one arrives
    /// without `IORING_CQE_F_MORE`. `keepAlive` lives until then. Returns the id to cancel it
    /// with (``cancel(_:)``). A one-shot operation whose completion goes to a handler instead
    /// of a task is submitted the same way: its one completion is its last.
    func submitMultishot(
        keepAlive: AnyObject?,
        handler: @escaping (Completion) -> Void,
        _ prepare: (SubmissionEntry) -> Void
    ) -> OperationID {
        let id = operations.reserve(keepAlive: keepAlive)
        let entry = nextEntry()
        prepare(entry)
        entry.setUserData(id.userData)
        operations.markSubmitted(id, waiter: .handler(handler))
        return id
    }

    /// Queues an `IORING_OP_TIMEOUT` for `timespec` (kept in the operation's slot, which lives
    /// until the completion) whose completion goes to `waiter`: the one step every timer uses.
    @discardableResult
    func submitTimeout(_ timespec: KernelTimespec, waiter: OperationWaiter) -> OperationID {
        let id = operations.reserve(keepAlive: nil)
        let pointer = operations.timespecPointer(for: id)
        pointer.pointee = timespec
        let entry = nextEntry()
        entry.prepareTimeout(pointer)
        entry.setUserData(id.userData)
        operations.markSubmitted(id, waiter: waiter)
        return id
    }

    /// Arms an `IORING_OP_TIMEOUT` that calls `handler` with its result (`-ETIME` when it fired,
    /// `-ECANCELED` when ``cancel(_:)`` took it back, or at once while stopping).
    func armCallbackTimer(after duration: Duration, _ handler: @escaping (Int32) -> Void) -> OperationID {
        if stopping {
            // An id that is stale from the start, so cancelling it later does nothing.
            let id = operations.reserve(keepAlive: nil)
            operations.release(id)
            handler(-ECANCELED)
            return id
        }
        return submitTimeout(KernelTimespec(duration), waiter: .handler { completion in handler(completion.result) })
    }
}
