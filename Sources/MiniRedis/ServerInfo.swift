import Glibc
import Torus

extension Server {
    /// mini-redis's own version, reported as `mini_redis_version`. There is no
    /// `redis_version` field: tools that read it would assume commands mini-redis lacks.
    public static let version = "0.1.0"

    /// The reply to `INFO [section ...]`: the sections ``InfoSection/selected(by:)`` picks, in
    /// redis's format (an empty string when no section name is known).
    ///
    /// Gathering is cheap (a few system calls, a lock per database shard, and for the `torus`
    /// section one mailbox message per core), but not free: not something to call per request.
    public func info(_ arguments: [[UInt8]]) async -> String {
        var text = InfoText()
        for section in InfoSection.selected(by: arguments) {
            text.section(section)
            switch section {
            case .server: serverSection(&text)
            case .clients: clientsSection(&text)
            case .memory: memorySection(&text)
            case .cpu: cpuSection(&text)
            case .stats: statsSection(&text)
            case .keyspace: keyspaceSection(&text)
            case .torus: await torusSection(&text)
            }
        }
        return text.text
    }

    private func serverSection(_ text: inout InfoText) {
        let run = statistics.runFacts
        text.field("mini_redis_version", Server.version)
        text.field("redis_mode", "standalone")
        text.field("os", ProcessFacts.operatingSystem)
        text.field("arch_bits", Int.bitWidth)
        text.field("multiplexing_api", "io_uring")
        text.field("process_id", getpid())
        text.field("run_id", run?.id)
        text.field("tcp_port", run?.port)
        text.field("server_time_usec", ProcessFacts.wallClockMicroseconds)
        if let started = run?.started {
            let seconds = (ContinuousClock.now - started).components.seconds
            text.field("uptime_in_seconds", seconds)
            text.field("uptime_in_days", seconds / 86_400)
        }
        text.field("executable", ProcessFacts.executablePath)
        text.field("torus_cores", run?.cores ?? RuntimeHandle.current?.cores.count)
    }

    private func clientsSection(_ text: inout InfoText) {
        let totals = statistics.totals
        text.field("connected_clients", totals.connectedClients)
        text.field("maxclients", maxClients)
        text.field("blocked_clients", 0)
        text.field("pubsub_clients", totals.subscriberClients)
    }

    private func memorySection(_ text: inout InfoText) {
        let resident = ProcessFacts.residentBytes
        // The process's resident set: mini-redis has no allocator count of its own, so
        // used_memory and used_memory_rss are the same figure.
        text.field("used_memory", resident)
        text.field("used_memory_human", resident.map(humanBytes))
        text.field("used_memory_rss", resident)
        text.field("used_memory_rss_human", resident.map(humanBytes))
        let peak = ProcessFacts.peakResidentBytes
        text.field("used_memory_peak", peak)
        text.field("used_memory_peak_human", peak.map(humanBytes))
        let system = ProcessFacts.totalSystemMemory
        text.field("total_system_memory", system)
        text.field("total_system_memory_human", system.map(humanBytes))
        text.field("maxmemory", 0)
        text.field("maxmemory_human", "0B")
        text.field("maxmemory_policy", "noeviction")
    }

    private func cpuSection(_ text: inout InfoText) {
        guard let cpu = ProcessFacts.cpuSeconds else { return }
        text.field("used_cpu_sys", fixed(cpu.system, decimals: 6))
        text.field("used_cpu_user", fixed(cpu.user, decimals: 6))
    }

    private func statsSection(_ text: inout InfoText) {
        let totals = statistics.totals
        text.field("total_connections_received", totals.connectionsReceived)
        text.field("total_commands_processed", totals.commandsProcessed)
        text.field("instantaneous_ops_per_sec", Int(totals.operationsPerSecond.rounded()))
        text.field("total_net_input_bytes", totals.netInputBytes)
        text.field("total_net_output_bytes", totals.netOutputBytes)
        text.field("rejected_connections", totals.rejectedConnections)
        text.field("keyspace_hits", totals.keyspaceHits)
        text.field("keyspace_misses", totals.keyspaceMisses)
        text.field("pubsub_channels", pubsub.channelCount)
        text.field("pubsub_patterns", 0)
    }

    private func keyspaceSection(_ text: inout InfoText) {
        // Like redis, an empty database has no line.
        let keys = database.count
        guard keys > 0 else { return }
        text.field("db0", "keys=\(keys),expires=\(database.expiringCount),avg_ttl=0")
    }

    /// The runtime's figures (``RuntimeHandle/metrics()``): `coreN_field` per core, then the
    /// runtime-wide ones. Counters count from the core's start; see ``RuntimeMetrics`` for
    /// what each one means.
    private func torusSection(_ text: inout InfoText) async {
        guard let runtime = RuntimeHandle.current else { return }
        let metrics = await runtime.metrics()
        for core in metrics.cores {
            let prefix = "core\(core.index)_"
            text.field(prefix + "jobs_run", core.jobsRun)
            text.field(prefix + "completions", core.completions)
            text.field(prefix + "parks", core.parks)
            text.field(prefix + "wakeups_msg_ring", core.wakeupsByMessageRing)
            text.field(prefix + "wakeups_doorbell", core.wakeupsByDoorbell)
            text.field(prefix + "mailbox_messages", core.mailboxMessages)
            text.field(prefix + "sq_full_waits", core.submissionQueueFullWaits)
            text.field(prefix + "timers_armed", core.timersArmed)
            text.field(prefix + "tasks_started", core.tasksStarted)
            text.field(prefix + "operations_in_flight", core.operationsInFlight)
            text.field(prefix + "live_tasks", core.liveTasks)
            text.field(prefix + "receive_buffers", core.receiveBuffers)
            text.field(prefix + "receive_buffers_on_loan", core.receiveBuffersOnLoan)
            text.field(prefix + "receive_buffers_posted", core.receiveBuffersPosted)
            text.field(prefix + "receive_buffer_growths", core.receiveBufferGrowths)
            text.field(prefix + "receive_buffer_waits", core.receiveBufferWaits)
            text.field(prefix + "receive_buffer_window_widenings", core.receiveBufferWindowWidenings)
        }
        text.field("live_tasks", metrics.liveTasks)
        text.field("blocking_threads", metrics.blockingThreads)
        text.field("blocking_idle_threads", metrics.idleBlockingThreads)
        text.field("blocking_queue_length", metrics.blockingQueueLength)
    }
}
