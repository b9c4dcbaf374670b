import TorusChannels
import TorusRing

/// Waking a driver that is blocked in `io_uring_enter`.
///
/// Two ways in: from another driver's thread, an `IORING_OP_MSG_RING` on the *sender's* ring
/// posts a CQE on this one (batched with the sender's other submissions); from any other thread,
/// an 8-byte write to the eventfd on which this driver keeps an `IORING_OP_READ` outstanding.
extension RingDriver {
    /// Keeps one 8-byte read outstanding on the eventfd, so a write from any thread wakes us.
    func armDoorbell() {
        guard let ring, !doorbellArmed else { return }
        // Called from the doorbell's own completion, inside a reap: a full SQ is submitted (no
        // reap here, the batch is being handled) and, if still full, the arm is retried on the
        // owner's next turn (`retryPendingCancels`) rather than dropped, which would lose every
        // later wake-up from a foreign thread.
        var entry = ring.nextEntry(reserving: 0)
        if entry == nil {
            ring.submitAndGetEvents()
            entry = ring.nextEntry(reserving: 0)
        }
        guard let entry else {
            doorbellRearmPending = true
            return
        }
        // SAFETY: doorbellBuffer lives until deinit, after the ring; the owner closes the driver
        // only once this read has completed (`isIdle`).
        entry.prepareRead(fd: doorbellFD, buffer: doorbellBuffer, length: 8, offset: 0)
        entry.setUserData(ReservedUserData.doorbell)
        doorbellArmed = true
    }

    /// Wakes this driver's thread out of `io_uring_enter`. Any thread; `sender` is the driver of
    /// the calling thread, if it has one (its ring then carries a `MSG_RING`, no system call).
    func wake(from sender: RingDriver?) {
        if canMessageRing, let sender, sender !== self, sender.sendWake(to: self) { return }
        doorbell.withLock { eventFD in eventFD?.signal() }
    }

    /// Queues an `IORING_OP_MSG_RING` on this (the sender's) ring that posts a wake-up CQE on
    /// `target`'s ring. It goes out with this driver's next `io_uring_enter`. Owning thread.
    private func sendWake(to target: RingDriver) -> Bool {
        guard !stopping, let ring, let entry = ring.nextEntry(reserving: RingDriver.cancelReserve) else { return false }
        entry.prepareMessageRing(targetRingFD: target.ringFD, result: 0, userData: ReservedUserData.wake)
        entry.setUserData(ReservedUserData.ignored)
        entry.addFlags(.skipSuccess)
        return true
    }
}
