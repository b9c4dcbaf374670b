import Glibc
import TorusChannels
import TorusRing

/// Submitting several operations at once and awaiting them all with one suspension: what
/// batched file reads are built on (``File/read(_:)``).
extension Core {
    /// Submits `count` operations, member `index` filled in by `prepare(entry, index)`, and
    /// suspends once until every one has finished. `keepAlive` owns the memory of every member
    /// and is released only after the last member's final completion.
    ///
    /// For operations that finish in bounded time whatever happens (reads of regular files):
    /// cancelling the task does not cancel them, as with a single operation submitted with
    /// `cancellable: false`. A task already cancelled, or a core that is stopping, submits
    /// nothing. Inside a deadline scope every member carries the time left as a linked timeout,
    /// and a scope that fires from elsewhere cancels every member still in flight.
    /// - Returns: each member's CQE result, in order: non-negative on success, `-errno` on
    ///   failure, `-ECANCELED` for a member that was never submitted or was cancelled.
    /// Cancels several operations from any thread: on the core's thread at once, from anywhere
    /// else with one mailbox message for all of them.
    func cancelOperations(_ ids: [OperationID]) {
        guard isCurrent else {
            // A core that has stopped runs the closure on another thread, with nothing left in
            // flight to cancel and no ring to touch.
            execute { [self] in
                guard isCurrent else { return }
                for id in ids { driver.cancel(id) }
            }
            return
        }
        for id in ids { driver.cancel(id) }
    }

    nonisolated(nonsending) func submitBatchAndAwait(
        count: Int,
        keepAlive: Any?,
        _ prepare: (SubmissionEntry, Int) -> Void
    ) async -> [Int32] {
        precondition(isCurrent, "ring operations must be submitted from core \(index)'s own thread")
        func refused() -> [Int32] { [Int32](repeating: -ECANCELED, count: count) }
        if count == 0 || driver.stopping || Task.isCancelled { return refused() }
        var timeLimit: Duration?
        var scopeHook: (scope: CancelScope, token: UInt64)?
        var ids: [OperationID] = []
        if let scope = CancelScope.ofCurrentTask {
            if scope.isExpired { return refused() }
            timeLimit = scope.remaining
            if scope.firesExternally {
                // One token for the whole batch, registered before anything is submitted: it
                // cancels every member (one already finished has a stale id, and its cancel
                // is ignored).
                ids.reserveCapacity(count)
                for _ in 0..<count { ids.append(driver.operations.reserve(keepAlive: nil)) }
                let members = ids
                guard let token = scope.register({ [self] in cancelOperations(members) }, armsTimer: false) else {
                    for id in ids { driver.operations.release(id) }
                    return refused()
                }
                scopeHook = (scope, token)
            }
        }
        defer { if let scopeHook { scopeHook.scope.unregister(scopeHook.token) } }
        // SAFETY: this frame holds `batch` across the await, and the task resumes only once the
        // last member has finished: every member's unretained reference stays valid.
        let batch = OperationBatch(count: count, keepAlive: keepAlive)
        let unretained = Unmanaged.passUnretained(batch)
        defer { withExtendedLifetime(batch) {} }
        // The inheriting forms: no executor switches around the wait (see `Core.submitAndAwait`).
        return await _unsafeInheritExecutor_withUnsafeContinuation { (continuation: UnsafeContinuation<[Int32], Never>) in
            // Armed first: a member refused during submission finishes at once, and the last
            // one to finish (here or on a later completion) resumes the task.
            batch.wait(with: continuation)
            for member in 0..<count {
                let id = ids.isEmpty ? driver.operations.reserve(keepAlive: nil) : ids[member]
                // The time left, read again for each member: a batch bigger than the SQ is
                // submitted in several steps, and a limit taken once would let the last members
                // outlive the deadline by the submission's length (4.5 ms for 1,000 members).
                if timeLimit != nil, let left = CancelScope.ofCurrentTask?.remaining { timeLimit = left }
                driver.submit(id, waiter: .batchMember(unretained, index: member), timeLimit: timeLimit) { entry, _ in
                    prepare(entry, member)
                }
            }
        }
    }
}
