import Synchronization
import TorusRing

/// A snapshot of what a runtime is doing (tokio's `RuntimeMetrics`): ``RuntimeHandle/metrics()``.
///
/// Counters are kept by each core on its own thread without atomics; the snapshot asks every
/// core for its figures through its mailbox, so taking one costs a message per core and never
/// slows the hot path. Counters (`UInt64`) only grow, from the core's start, and wrap on
/// overflow: compare two snapshots to see what happened in between. Gauges (`Int`) are the
/// value at the moment the core answered. The cores answer one after the other, so the
/// snapshot is not one instant across cores.
public struct RuntimeMetrics: Sendable, CustomStringConvertible {
    /// One core's figures.
    public struct CoreMetrics: Sendable, CustomStringConvertible {
        /// The core's index in ``Runtime/cores``.
        public var index: Int
        /// Jobs run (task steps, from one suspension point to the next), since the core started.
        public var jobsRun: UInt64
        /// Completions reaped from the ring: operation results, timer firings, wake-ups.
        public var completions: UInt64
        /// Times the core blocked in the kernel waiting for work.
        public var parks: UInt64
        /// Wake-ups from a park by another core's `IORING_OP_MSG_RING`.
        public var wakeupsByMessageRing: UInt64
        /// Wake-ups from a park by a write to the core's eventfd: work from a thread that is
        /// not a core (or from a core on a kernel without `MSG_RING`).
        public var wakeupsByDoorbell: UInt64
        /// Mailbox messages received from other threads and cores (jobs, closures, timers,
        /// cancels).
        public var mailboxMessages: UInt64
        /// Busy-poll windows in which work arrived before the core parked
        /// (``RuntimeConfiguration/busyPoll``; 0 when it is off).
        public var busyPollsWithWork: UInt64
        /// Times a turn queued more operations than the ring has free entries, so that taking
        /// an entry had to submit the queued ones first (`Ring.submitsToMakeRoom`).
        /// Steadily growing under load: give the runtime larger rings
        /// (``RuntimeConfiguration/ringEntries``).
        public var submissionQueueFullWaits: UInt64
        /// Timers armed (`IORING_OP_TIMEOUT`): ``sleep(for:)``, `Task.sleep` on the core, and
        /// the deadline of a ``withTimeout(_:isolation:_:)`` scope or a select. The per-operation
        /// link timeouts inside a deadline scope are not counted.
        public var timersArmed: UInt64
        /// Spawned tasks that started on this core (through ``spawn(on:_:)`` or
        /// ``RuntimeHandle/spawn(on:_:)``; task-group children and `async let`s are part of
        /// their parent task and not counted).
        public var tasksStarted: UInt64
        /// Times the core added provided receive buffers because a receive found none and every
        /// one was on loan (``RuntimeConfiguration/receiveBufferLimit``).
        public var receiveBufferGrowths: UInt64
        /// Multishot receives that found no provided buffer with the pool at its limit and
        /// waited for one to come back. Steadily growing: the core's connections hold more
        /// received bytes than ``RuntimeConfiguration/receiveBufferLimit`` allows (or their
        /// consumers keep chunks long).
        public var receiveBufferWaits: UInt64
        /// Times a receive found the posted provided buffers all taken while others were free
        /// and held back, and the core doubled how many it posts (see
        /// ``RuntimeConfiguration/receiveBufferCount``). It halves again after quiet turns, so a
        /// count that keeps growing means bursts of receives beyond the window, each costing a
        /// receive re-armed.
        public var receiveBufferWindowWidenings: UInt64
        /// Ring operations submitted and not yet completed (gauge; timers included, the
        /// doorbell read not).
        public var operationsInFlight: Int
        /// Provided receive buffers registered on the core (gauge): 0 until its first
        /// ``TCPStream/receivedChunks()``, then ``RuntimeConfiguration/receiveBufferCount``,
        /// more after growth, never more than ``RuntimeConfiguration/receiveBufferLimit``.
        public var receiveBuffers: Int
        /// Of those, the buffers on loan (gauge): holding received bytes, queued for or held
        /// by a consumer.
        public var receiveBuffersOnLoan: Int
        /// Of the free ones, the buffers posted to the kernel for receives to fill (gauge): a
        /// window of the pool, 64 while the load is light, so receives keep writing into the same
        /// warm memory; the rest wait, held back, until a burst needs them.
        public var receiveBuffersPosted: Int
        /// Spawned tasks running on the core now (gauge).
        public var liveTasks: Int

        /// The core's counters on one line.
        public var description: String {
            "core \(index): jobs=\(jobsRun) completions=\(completions) parks=\(parks) "
                + "wakeups(msg-ring)=\(wakeupsByMessageRing) wakeups(doorbell)=\(wakeupsByDoorbell) "
                + "mailbox=\(mailboxMessages) sq-full=\(submissionQueueFullWaits) timers=\(timersArmed) "
                + "started=\(tasksStarted) in-flight=\(operationsInFlight) tasks=\(liveTasks) "
                + "receive-buffers=\(receiveBuffersOnLoan)/\(receiveBuffers) growths=\(receiveBufferGrowths) "
                + "buffer-waits=\(receiveBufferWaits) posted=\(receiveBuffersPosted) widenings=\(receiveBufferWindowWidenings) "
                + "busy-polls-with-work=\(busyPollsWithWork)"
        }

        /// Reads `core`'s figures. On the core's thread only (the counters are plain fields),
        /// or after it has stopped, when a late request runs elsewhere and the thread is gone.
        init(reading core: Core) {
            let statistics = core.statistics
            index = core.index
            jobsRun = statistics.jobsRun
            completions = statistics.completions
            parks = statistics.parks
            wakeupsByMessageRing = statistics.wakeupsByMessageRing
            wakeupsByDoorbell = statistics.wakeupsByDoorbell
            mailboxMessages = statistics.mailboxMessages
            busyPollsWithWork = statistics.busyPollsWithWork
            submissionQueueFullWaits = core.driver.ring?.submitsToMakeRoom ?? 0
            timersArmed = core.driver.operations.timersArmed
            tasksStarted = core.tasks.registered
            receiveBufferGrowths = core.receiveBuffers.growths
            receiveBufferWaits = core.receiveBuffers.waits
            receiveBufferWindowWidenings = core.receiveBuffers.windowWidenings
            receiveBuffersPosted = core.receiveBuffers.postedCount
            operationsInFlight = core.driver.operations.inFlight
            receiveBuffers = core.receiveBuffers.capacity
            receiveBuffersOnLoan = core.receiveBuffers.lent
            liveTasks = core.tasks.count
        }
    }

    /// Per core, in index order.
    public var cores: [CoreMetrics]
    /// Spawned tasks alive on the whole runtime (counted from the spawn, so a task queued but
    /// not yet started is included).
    public var liveTasks: Int
    /// Blocking-pool threads alive now (``spawnBlocking(_:)``; started on demand, up to
    /// ``RuntimeConfiguration/maxBlockingThreads``, and ended after a while idle).
    public var blockingThreads: Int
    /// Of those, the threads waiting for work.
    public var idleBlockingThreads: Int
    /// Blocking work queued that no pool thread has taken yet: non-zero for long, and the pool
    /// is too small for the work given to it.
    public var blockingQueueLength: Int

    /// One line per core, then the runtime-wide figures.
    public var description: String {
        let pool = "tasks=\(liveTasks) blocking-threads=\(blockingThreads) (idle \(idleBlockingThreads)) blocking-queue=\(blockingQueueLength)"
        return (cores.map(\.description) + [pool]).joined(separator: "\n")
    }
}

extension RuntimeHandle {
    /// Each core's counters, taken on the core itself, plus runtime-wide figures.
    ///
    /// Costs one mailbox message per core (a core that is parked is woken to answer); call it
    /// from anywhere, a core included, but not at a high rate on a busy runtime.
    ///
    /// Cancel safety: nothing to lose; the snapshot is simply not returned.
    public func metrics() async -> RuntimeMetrics {
        var cores: [RuntimeMetrics.CoreMetrics] = []
        for core in shared.cores {
            cores.append(
                await withCheckedContinuation { continuation in
                    core.execute { continuation.resume(returning: RuntimeMetrics.CoreMetrics(reading: core)) }
                })
        }
        let pool = shared.blockingPool.load
        return RuntimeMetrics(
            cores: cores, liveTasks: shared.liveTasks.load(ordering: .relaxed),
            blockingThreads: pool.threads, idleBlockingThreads: pool.idle, blockingQueueLength: pool.queued)
    }
}
