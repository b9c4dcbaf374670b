import Glibc
import TorusRing

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
    /// - Returns: the CQE result: non-negative on success, `-errno` on failure; `-ECANCELED` if
    ///   the task was cancelled before the operation could start or the core is stopping.
    func submitAndAwait(
        keepAlive: AnyObject? = nil,
        _ prepare: (SubmissionEntry, OperationID) -> Void
    ) async -> Int32 {
        precondition(isCurrent, "ring operations must be submitted from core \(index)'s own thread")
        if stopping { return -ECANCELED }
        let id = operations.reserve(keepAlive: keepAlive)
        return await withTaskCancellationHandler {
            await withUnsafeContinuation { (continuation: UnsafeContinuation<Int32, Never>) in
                if operations.isCancelRequested(id) || Task.isCancelled || stopping {
                    operations.release(id, wasSubmitted: false)
                    continuation.resume(returning: -ECANCELED)
                    return
                }
                let entry = nextEntry()
                prepare(entry, id)
                entry.setUserData(id.userData)
                operations.markSubmitted(id, waiter: .continuation(continuation))
            }
        } onCancel: {
            self.cancelOperation(id)
        }
    }

    /// An SQE for a new operation, keeping room for cancels. If the kernel cannot take the
    /// queued entries (its completion queue is overflowing), completions are reaped until it can.
    func nextEntry() -> SubmissionEntry {
        guard let ring else { preconditionFailure("core \(index) has no ring") }
        while true {
            if let entry = ring.nextEntry(reserving: Core.cancelReserve) { return entry }
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
        let id = operations.reserve(keepAlive: nil)
        let timespec = operations.timespecPointer(for: id)
        timespec.pointee = KernelTimespec(seconds: nanoseconds / 1_000_000_000, nanoseconds: nanoseconds % 1_000_000_000)
        let entry = nextEntry()
        entry.prepareTimeout(timespec)
        entry.setUserData(id.userData)
        operations.markSubmitted(id, waiter: .job(job))
    }
}
