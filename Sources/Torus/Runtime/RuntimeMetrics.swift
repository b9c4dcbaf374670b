import Synchronization

/// A snapshot of what a runtime is doing (tokio's `RuntimeMetrics`): ``RuntimeHandle/metrics()``.
///
/// Counters are kept by each core on its own thread without atomics; the snapshot asks every
/// core for its figures through its mailbox, so taking one costs a message per core and never
/// slows the hot path.
public struct RuntimeMetrics: Sendable, CustomStringConvertible {
    /// One core's figures.
    public struct CoreMetrics: Sendable, CustomStringConvertible {
        /// The core's index in ``Runtime/cores``.
        public var index: Int
        /// Jobs run (task steps), since the core started.
        public var jobsRun: UInt64
        /// Completions reaped from the ring.
        public var completions: UInt64
        /// Times the core blocked in the kernel waiting for work.
        public var parks: UInt64
        /// Mailbox messages received from other threads and cores.
        public var mailboxMessages: UInt64
        /// Ring operations submitted and not yet completed.
        public var operationsInFlight: Int
        /// Spawned tasks running on the core now.
        public var liveTasks: Int

        public var description: String {
            "core \(index): jobs=\(jobsRun) completions=\(completions) parks=\(parks) mailbox=\(mailboxMessages) in-flight=\(operationsInFlight) tasks=\(liveTasks)"
        }
    }

    /// Per core, in index order.
    public var cores: [CoreMetrics]
    /// Spawned tasks alive on the whole runtime.
    public var liveTasks: Int
    /// Blocking-pool threads alive now.
    public var blockingThreads: Int

    public var description: String {
        (cores.map(\.description) + ["tasks=\(liveTasks) blocking-threads=\(blockingThreads)"]).joined(separator: "\n")
    }
}

extension RuntimeHandle {
    /// Each core's counters, taken on the core itself, plus runtime-wide figures.
    ///
    /// Cancel safety: nothing to lose; the snapshot is simply not returned.
    public func metrics() async -> RuntimeMetrics {
        var cores: [RuntimeMetrics.CoreMetrics] = []
        for core in shared.cores {
            cores.append(await withCheckedContinuation { continuation in
                core.execute {
                    continuation.resume(returning: RuntimeMetrics.CoreMetrics(
                        index: core.index, jobsRun: core.statistics.jobsRun, completions: core.statistics.completions,
                        parks: core.statistics.parks, mailboxMessages: core.statistics.mailboxMessages,
                        operationsInFlight: core.operations.inFlight, liveTasks: core.tasks.count))
                }
            })
        }
        return RuntimeMetrics(
            cores: cores, liveTasks: shared.liveTasks.load(ordering: .relaxed),
            blockingThreads: shared.blockingPool.threadCount)
    }
}
