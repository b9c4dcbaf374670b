import CoreMetrics

/// The reporter's metric objects, made on first use, and the counter values it last reported.
struct ReporterState {
    /// One core's counters and gauges, in ``RuntimeMetricNames`` order.
    struct CoreMetricSet {
        var counters: [Counter]
        var gauges: [Gauge]
        /// The figures added to `counters` so far, to add only the growth next time.
        var previous: [UInt64]
    }

    var cores: [Int: CoreMetricSet] = [:]
    private var runtimeGaugeSet: [Gauge]?

    /// Core `index`'s metric set, made (with zero previous figures) the first time.
    mutating func core(_ index: Int, prefix: String, factory: (any MetricsFactory)?) -> CoreMetricSet {
        if let existing = cores[index] { return existing }
        let dimensions = [("core", String(index))]
        let made = CoreMetricSet(
            counters: RuntimeMetricNames.coreCounters.map {
                makeCounter(label: "\(prefix)_core_\($0.name)", dimensions: dimensions, factory: factory)
            },
            gauges: RuntimeMetricNames.coreGauges.map {
                makeGauge(label: "\(prefix)_core_\($0.name)", dimensions: dimensions, factory: factory)
            },
            previous: Array(repeating: 0, count: RuntimeMetricNames.coreCounters.count))
        cores[index] = made
        return made
    }

    /// The runtime-wide gauges, made the first time.
    mutating func runtimeGauges(prefix: String, factory: (any MetricsFactory)?) -> [Gauge] {
        if let runtimeGaugeSet { return runtimeGaugeSet }
        let made = RuntimeMetricNames.runtimeGauges.map {
            makeGauge(label: "\(prefix)_\($0.name)", dimensions: [], factory: factory)
        }
        runtimeGaugeSet = made
        return made
    }
}

private func makeCounter(label: String, dimensions: [(String, String)], factory: (any MetricsFactory)?) -> Counter {
    if let factory { return Counter(label: label, dimensions: dimensions, factory: factory) }
    return Counter(label: label, dimensions: dimensions)
}

private func makeGauge(label: String, dimensions: [(String, String)], factory: (any MetricsFactory)?) -> Gauge {
    if let factory { return Gauge(label: label, dimensions: dimensions, factory: factory) }
    return Gauge(label: label, dimensions: dimensions)
}
