import Torus

/// Which figures of a ``RuntimeMetrics`` snapshot become which swift-metrics metric: one table,
/// so that a new counter in Torus is one line here. Labels are the snapshot's property names
/// in snake case, after the reporter's prefix (`torus_core_jobs_run`, `torus_live_tasks`).
enum RuntimeMetricNames {
    /// Per-core counters (they only grow; each report adds what happened since the last).
    static let coreCounters: [(name: String, value: @Sendable (RuntimeMetrics.CoreMetrics) -> UInt64)] = [
        ("jobs_run", { $0.jobsRun }),
        ("completions", { $0.completions }),
        ("parks", { $0.parks }),
        ("wakeups_msg_ring", { $0.wakeupsByMessageRing }),
        ("wakeups_doorbell", { $0.wakeupsByDoorbell }),
        ("mailbox_messages", { $0.mailboxMessages }),
        ("busy_polls_with_work", { $0.busyPollsWithWork }),
        ("submission_queue_full_waits", { $0.submissionQueueFullWaits }),
        ("timers_armed", { $0.timersArmed }),
        ("tasks_started", { $0.tasksStarted }),
        ("receive_buffer_growths", { $0.receiveBufferGrowths }),
        ("receive_buffer_waits", { $0.receiveBufferWaits }),
        ("receive_buffer_window_widenings", { $0.receiveBufferWindowWidenings }),
    ]

    /// Per-core gauges (the value when the core answered).
    static let coreGauges: [(name: String, value: @Sendable (RuntimeMetrics.CoreMetrics) -> Int)] = [
        ("operations_in_flight", { $0.operationsInFlight }),
        ("live_tasks", { $0.liveTasks }),
        ("receive_buffers", { $0.receiveBuffers }),
        ("receive_buffers_on_loan", { $0.receiveBuffersOnLoan }),
        ("receive_buffers_posted", { $0.receiveBuffersPosted }),
    ]

    /// Runtime-wide gauges, without a `core` dimension.
    static let runtimeGauges: [(name: String, value: @Sendable (RuntimeMetrics) -> Int)] = [
        ("live_tasks", { $0.liveTasks }),
        ("blocking_threads", { $0.blockingThreads }),
        ("blocking_threads_idle", { $0.idleBlockingThreads }),
        ("blocking_queue_length", { $0.blockingQueueLength }),
    ]
}
