import MiniRedis
import Prometheus
import Synchronization
import Torus
import TorusMetrics

/// What `GET /metrics` returns: a `PrometheusCollectorRegistry` brought up to date at each
/// scrape, then written in the text format.
///
/// The runtime's per-core figures go through TorusMetrics' `RuntimeMetricsReporter` with
/// swift-prometheus's `PrometheusMetricsFactory` as its backend (one registry of this
/// program's, not a global bootstrap): `torus_core_jobs_run{core="0"}` and the rest of its
/// table. The server's own figures come from `ServerStatistics`, as `INFO` reports them.
/// Nothing is sampled in the background: a scrape costs one mailbox message per core.
final class PrometheusExposition: Sendable {
    /// The text format's media type (Prometheus exposition format 0.0.4).
    static let contentType = "text/plain; version=0.0.4"

    private let registry = PrometheusCollectorRegistry()
    private let reporter: RuntimeMetricsReporter
    private let statistics: ServerStatistics
    private let counters: ServerCounters

    init(runtime: RuntimeHandle, statistics: ServerStatistics) {
        reporter = RuntimeMetricsReporter(runtime, labelPrefix: "torus", factory: PrometheusMetricsFactory(registry: registry))
        self.statistics = statistics
        counters = ServerCounters(registry)
    }

    /// Updates every figure and renders the registry.
    func render() async -> [UInt8] {
        await reporter.report()
        counters.update(statistics.totals)
        return registry.emitToBuffer()
    }
}

/// The server's figures as Prometheus metrics. `ServerStatistics` keeps totals, while a
/// Prometheus counter only grows by increments: each update adds the growth since the last,
/// under one lock so that two scrapes at once never add the same growth twice.
private final class ServerCounters: Sendable {
    private let connectedClients: Gauge
    private let subscriberClients: Gauge
    private let totals: [(counter: Counter, value: @Sendable (ServerStatistics.Totals) -> UInt64)]
    private let previous: Mutex<[UInt64]>

    init(_ registry: PrometheusCollectorRegistry) {
        func gauge(_ name: String, _ help: String) -> Gauge {
            registry.makeGauge(descriptor: MetricNameDescriptor(namespace: "mini_redis", metricName: name, unitName: "", helpText: help))
        }
        connectedClients = gauge("connected_clients", "Client connections open now (INFO connected_clients).")
        subscriberClients = gauge("pubsub_clients", "Connections in subscriber mode now (INFO pubsub_clients).")
        // Counters end in `_total`, as Prometheus names them.
        let table: [(String, String, @Sendable (ServerStatistics.Totals) -> UInt64)] = [
            ("commands_processed", "Commands run (INFO total_commands_processed).", { $0.commandsProcessed }),
            ("connections_received", "Connections accepted (INFO total_connections_received).", { $0.connectionsReceived }),
            ("rejected_connections", "Connections refused at maxclients (INFO rejected_connections).", { $0.rejectedConnections }),
            ("net_input_bytes", "Bytes received from clients (INFO total_net_input_bytes).", { $0.netInputBytes }),
            ("net_output_bytes", "Bytes sent to clients (INFO total_net_output_bytes).", { $0.netOutputBytes }),
        ]
        totals = table.map {
            (
                registry.makeCounter(descriptor: MetricNameDescriptor(namespace: "mini_redis", metricName: $0.0, unitName: "total", helpText: $0.1)),
                $0.2
            )
        }
        previous = Mutex(Array(repeating: 0, count: table.count))
    }

    func update(_ figures: ServerStatistics.Totals) {
        connectedClients.set(Int64(clamping: figures.connectedClients))
        subscriberClients.set(Int64(clamping: figures.subscriberClients))
        previous.withLock { previous in
            for (index, metric) in totals.enumerated() {
                let now = metric.value(figures)
                // Sums of per-core relaxed loads may lag a little: never count backwards.
                if now > previous[index] {
                    metric.counter.increment(by: Int64(clamping: now - previous[index]))
                    previous[index] = now
                }
            }
        }
    }
}
