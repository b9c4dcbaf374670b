import TorusRing

/// Cancelling operations: one by id, all on a descriptor, or everything when stopping.
///
/// Cancels use the SQ slots kept free for them (``RingDriver/cancelReserve``); if even those
/// are taken, a cancel waits in `pendingCancels` and is retried on the owner's next turn
/// (``retryPendingCancels()``), never dropped.
extension RingDriver {
    /// Cancels operation `id` (owning thread). Not yet submitted: it never will be (the
    /// submitter sees `cancelRequested`). In flight: an `ASYNC_CANCEL` is queued, or retried
    /// later. Already completed (a stale id): nothing happens.
    func cancel(_ id: OperationID) {
        guard operations.requestCancel(id) else { return }
        sendCancel(id)
    }

    private func sendCancel(_ id: OperationID) {
        guard let ring, let entry = ring.nextEntry(reserving: 0) else {
            operations.cancelNotSent(id)
            pendingCancels.append(id)
            return
        }
        entry.prepareCancel(userData: id.userData)
        entry.setUserData(ReservedUserData.cancelRequest)
    }

    /// Queues again the cancels that found the SQ full (the owner calls it once per turn).
    func retryPendingCancels() {
        if doorbellRearmPending {
            doorbellRearmPending = false
            if !stopping { armDoorbell() }
        }
        guard !pendingCancels.isEmpty else { return }
        let retry = pendingCancels
        pendingCancels.removeAll()
        for id in retry where operations.requestCancel(id) { sendCancel(id) }
    }

    /// Cancels every operation in flight on descriptor `fd`: what closing a descriptor that
    /// operations still hold asks of each driver.
    func cancelOperations(onDescriptor fd: Int32) {
        guard let ring, !stopping else { return }
        // Queued behind every SQE already in the ring, so an operation prepared before the close
        // is submitted first and found by the cancel. The cancel reserve is there for this.
        guard let entry = ring.nextEntry(reserving: 0) else {
            ring.submitAndGetEvents()
            reapCompletions()
            return cancelOperations(onDescriptor: fd)
        }
        entry.prepareCancel(fd: fd)
        entry.setUserData(ReservedUserData.cancelRequest)
    }

    /// Stops accepting ring work and cancels everything in flight (`IORING_ASYNC_CANCEL_ANY`);
    /// the owner keeps reaping until ``isIdle``.
    func beginStopping() {
        guard !stopping else { return }
        stopping = true
        guard let ring else { return }
        // Never dropped: a stop whose cancel-everything was not queued would wait for ever for
        // operations nobody cancels. A full SQ is submitted (and the CQ reaped, so the kernel
        // can take it) until a slot is free.
        while true {
            if let entry = ring.nextEntry(reserving: 0) {
                entry.prepareCancelAll()
                entry.setUserData(ReservedUserData.cancelRequest)
                return
            }
            ring.submitAndGetEvents()
            reapCompletions()
        }
    }
}
