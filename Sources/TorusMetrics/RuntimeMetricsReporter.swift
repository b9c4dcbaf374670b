import CoreMetrics
import Synchronization
import Torus

/// Reports a Torus runtime's counters to swift-metrics, every `interval` while ``run()`` runs,
/// or once per ``report()``.
///
/// Each report takes one ``RuntimeHandle/metrics()`` snapshot (one mailbox message per core)
/// and records:
///
/// - per core, with a `core` dimension (the core's index): counters
///   `torus_core_jobs_run`, `torus_core_completions`, `torus_core_parks`,
///   `torus_core_wakeups_msg_ring`, `torus_core_wakeups_doorbell`,
///   `torus_core_mailbox_messages`, `torus_core_submission_queue_full_waits`,
///   `torus_core_timers_armed`, `torus_core_tasks_started`, `torus_core_receive_buffer_growths`,
///   `torus_core_receive_buffer_waits`, `torus_core_receive_buffer_window_widenings`, each
///   incremented by what the core did since the previous report (so a counter's total is the
///   core's figure since it started), and gauges `torus_core_operations_in_flight`,
///   `torus_core_live_tasks`, `torus_core_receive_buffers`, `torus_core_receive_buffers_on_loan`,
///   `torus_core_receive_buffers_posted`;
/// - for the runtime: gauges `torus_live_tasks`, `torus_blocking_threads`,
///   `torus_blocking_threads_idle`, `torus_blocking_queue_length`.
///
/// ```swift
/// MetricsSystem.bootstrap(PrometheusMetricsFactory(...))   // any swift-metrics backend
/// let reporter = RuntimeMetricsReporter(runtime.handle, interval: .seconds(10))
/// runtime.handle.spawn { await reporter.run() }             // or any other task
/// ```
///
/// The figures are described in ``RuntimeMetrics/CoreMetrics``. Use one reporter per runtime:
/// two would each add the same growth to the same counters.
public final class RuntimeMetricsReporter: Sendable {
    /// Time between two reports in ``run()``.
    public let interval: Duration
    private let handle: RuntimeHandle
    private let labelPrefix: String
    private let factory: (any MetricsFactory)?
    private let state = Mutex(ReporterState())

    /// A reporter for the runtime behind `handle`.
    ///
    /// - Parameters:
    ///   - handle: the runtime to report on.
    ///   - interval: time between two reports in ``run()``.
    ///   - labelPrefix: the start of every metric's label (`torus` gives `torus_core_parks`).
    ///   - factory: the swift-metrics backend; `nil` for the one bootstrapped with
    ///     `MetricsSystem.bootstrap`.
    public init(
        _ handle: RuntimeHandle, interval: Duration = .seconds(10), labelPrefix: String = "torus",
        factory: (any MetricsFactory)? = nil
    ) {
        self.handle = handle
        self.interval = interval
        self.labelPrefix = labelPrefix
        self.factory = factory
    }

    /// Reports now, then every ``interval``, until the calling task is cancelled.
    ///
    /// Runs on whatever executor calls it: a task on one of the runtime's cores, or any other.
    ///
    /// Cancel safety: cancellation is how it ends; a report under way completes first.
    public func run() async {
        while !Task.isCancelled {
            await report()
            do { try await Task.sleep(for: interval) } catch { return }
        }
    }

    /// Takes one snapshot and records it.
    ///
    /// Cancel safety: nothing is lost; the snapshot is taken and recorded whatever happens to
    /// the calling task.
    public func report() async {
        let snapshot = await handle.metrics()
        // The snapshot is applied under the lock so that two overlapping reports cannot both
        // add the same growth: each adds what the counters grew since the one applied before.
        state.withLock { state in
            for core in snapshot.cores {
                var metrics = state.core(core.index, prefix: labelPrefix, factory: factory)
                for (index, counter) in RuntimeMetricNames.coreCounters.enumerated() {
                    let now = counter.value(core)
                    // The core's counters wrap on overflow: the difference wraps the same way.
                    let growth = now &- metrics.previous[index]
                    if growth > 0 { metrics.counters[index].increment(by: Int64(clamping: growth)) }
                    metrics.previous[index] = now
                }
                for (index, gauge) in RuntimeMetricNames.coreGauges.enumerated() {
                    metrics.gauges[index].record(gauge.value(core))
                }
                state.cores[core.index] = metrics
            }
            for (index, gauge) in RuntimeMetricNames.runtimeGauges.enumerated() {
                state.runtimeGauges(prefix: labelPrefix, factory: factory)[index].record(gauge.value(snapshot))
            }
        }
    }
}
