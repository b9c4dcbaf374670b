/// Counters a core keeps about itself (``Core/statistics``, read on the core's own thread).
///
/// Each is a plain, non-atomic field incremented by the core's own thread only: the hot paths
/// pay one add to a cache line no other thread writes. Other threads see them through
/// ``RuntimeHandle/metrics()``, which reads them on the core (a mailbox message), never
/// directly. Counters wrap on overflow rather than trap.
public struct CoreStatistics: Sendable, CustomStringConvertible {
    /// Jobs run: task steps, from one suspension point to the next (a task resumed ten times
    /// is eleven jobs).
    public var jobsRun: UInt64 = 0
    /// Completions reaped from the ring: operation results, timer firings, wake-ups.
    public var completions: UInt64 = 0
    /// Times the core blocked in `io_uring_enter` waiting for work (it had no job, no
    /// completion and no message).
    public var parks: UInt64 = 0
    /// Wake-ups that arrived as an `IORING_OP_MSG_RING` completion: another core had work
    /// for this one while it was parked.
    public var wakeupsByMessageRing: UInt64 = 0
    /// Wake-ups that arrived through the eventfd doorbell: a thread that is not a core (or a
    /// core whose kernel lacks `MSG_RING`) had work for this core while it was parked. Writes
    /// made before the core got round to reading count once.
    public var wakeupsByDoorbell: UInt64 = 0
    /// Mailbox messages received from other threads and cores: jobs, closures
    /// (``Core/execute(_:)``), timers, cancels.
    public var mailboxMessages: UInt64 = 0
    /// Busy-poll windows (``RuntimeConfiguration/busyPoll``) in which work arrived, so the
    /// core did not park. Compare with ``parks``: the other windows ended in one, or in the
    /// park handshake finding a message that came as the window closed.
    public var busyPollsWithWork: UInt64 = 0

    /// The counters on one line, `name=value`.
    public var description: String {
        "jobs=\(jobsRun) completions=\(completions) parks=\(parks) wakeups(msg-ring)=\(wakeupsByMessageRing) "
            + "wakeups(doorbell)=\(wakeupsByDoorbell) mailbox=\(mailboxMessages) busy-polls-with-work=\(busyPollsWithWork)"
    }
}
