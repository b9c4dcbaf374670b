import MetricsTestKit
import Synchronization
import Testing
import Torus
import TorusMetrics

private let ioUringAvailable = (try? RuntimeCapabilities.probe()) != nil

/// `RuntimeMetricsReporter` against swift-metrics' `TestMetrics` backend, on real runtimes.
@Suite(
    "TorusMetrics: runtime counters to swift-metrics", .serialized,
    .enabled(if: ioUringAvailable, "skipped: io_uring is unavailable here"))
struct RuntimeMetricsReporterTests {
    @Test("counters carry each core's figures under a core dimension, growing by what happened between reports")
    func countersPerCore() async throws {
        let runtime = try Runtime(RuntimeConfiguration(cores: .count(2)))
        defer { runtime.shutdown(gracePeriod: .zero) }
        let metrics = TestMetrics()
        let reporter = RuntimeMetricsReporter(runtime.handle, factory: metrics)

        // Five timers on core 1, none on core 0: timers are armed only by sleeps, so the
        // figure stays put while the reports' own mailbox messages run.
        try await runtime.handle.spawn(on: .core(1)) { for _ in 0..<5 { try await sleep(for: .milliseconds(1)) } }.value
        await reporter.report()
        let timers1 = try metrics.expectCounter("torus_core_timers_armed", [("core", "1")])
        let timers0 = try metrics.expectCounter("torus_core_timers_armed", [("core", "0")])
        var snapshot = await runtime.handle.metrics()
        #expect(timers1.totalValue == Int64(snapshot.cores[1].timersArmed))
        #expect(timers1.totalValue >= 5)
        #expect(timers0.totalValue == Int64(snapshot.cores[0].timersArmed))

        try await runtime.handle.spawn(on: .core(1)) { for _ in 0..<3 { try await sleep(for: .milliseconds(1)) } }.value
        await reporter.report()
        snapshot = await runtime.handle.metrics()
        #expect(timers1.totalValue == Int64(snapshot.cores[1].timersArmed), "the second report added the growth only")
        #expect(timers1.values.last == 3, "increments: \(timers1.values)")

        // Every counter exists for every core.
        for name in [
            "jobs_run", "completions", "parks", "wakeups_msg_ring", "wakeups_doorbell", "mailbox_messages",
            "submission_queue_full_waits", "timers_armed", "tasks_started", "receive_buffer_growths", "receive_buffer_waits",
            "receive_buffer_window_widenings",
        ] {
            for core in ["0", "1"] {
                #expect(throws: Never.self, "\(name) core \(core)") {
                    try metrics.expectCounter("torus_core_\(name)", [("core", core)])
                }
            }
        }
        let jobs = try metrics.expectCounter("torus_core_jobs_run", [("core", "1")])
        #expect(jobs.totalValue > 0)
    }

    @Test("gauges report live tasks per core and for the runtime")
    func gauges() async throws {
        let runtime = try Runtime(RuntimeConfiguration(cores: .count(2)))
        defer { runtime.shutdown(gracePeriod: .zero) }
        let metrics = TestMetrics()
        let reporter = RuntimeMetricsReporter(runtime.handle, labelPrefix: "app_torus", factory: metrics)
        let (release, held) = Oneshot.channel(Void.self)
        let started = Atomic<Bool>(false)
        let waiter = runtime.handle.spawn(on: .core(0)) {
            started.store(true, ordering: .sequentiallyConsistent)
            try await held.value
        }
        while !started.load(ordering: .sequentiallyConsistent) { try await Task.sleep(for: .milliseconds(1)) }
        await reporter.report()
        #expect(try metrics.expectGauge("app_torus_core_live_tasks", [("core", "0")]).lastValue == 1)
        #expect(try metrics.expectGauge("app_torus_core_live_tasks", [("core", "1")]).lastValue == 0)
        #expect(try metrics.expectGauge("app_torus_live_tasks").lastValue == 1)
        #expect(try metrics.expectGauge("app_torus_blocking_queue_length").lastValue == 0)
        _ = release.send(())
        try await waiter.value
        await reporter.report()
        #expect(try metrics.expectGauge("app_torus_core_live_tasks", [("core", "0")]).lastValue == 0)
    }

    @Test("run() reports every interval until its task is cancelled")
    func runsPeriodically() async throws {
        let runtime = try Runtime(RuntimeConfiguration(cores: .count(1)))
        defer { runtime.shutdown(gracePeriod: .zero) }
        let metrics = TestMetrics()
        let reporter = RuntimeMetricsReporter(runtime.handle, interval: .milliseconds(20), factory: metrics)
        let running = runtime.handle.spawn { await reporter.run() }
        // Three reports come at 20 ms intervals; wait for them rather than for a fixed time (a
        // loaded test run once saw one report in 150 ms), at most 10 s.
        let started = ContinuousClock.now
        while (try? metrics.expectGauge("torus_live_tasks").values.count) ?? 0 < 3, ContinuousClock.now - started < .seconds(10) {
            try await Task.sleep(for: .milliseconds(10))
        }
        running.cancel()
        try await running.value
        let reports = try metrics.expectGauge("torus_live_tasks").values.count
        #expect(reports >= 3, "reports at 20 ms intervals within 10 s: \(reports)")
        try await Task.sleep(for: .milliseconds(60))
        #expect(try metrics.expectGauge("torus_live_tasks").values.count == reports, "no report after cancellation")
    }
}
