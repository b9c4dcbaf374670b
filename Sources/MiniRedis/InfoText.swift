/// The sections of `INFO`, in the order redis prints them (and mini-redis's own, `torus`,
/// last).
public enum InfoSection: String, CaseIterable, Sendable {
    /// Version, process id, port, uptime, executable, Torus cores.
    case server
    /// Connected, maximum, blocked and subscribed clients.
    case clients
    /// The process's resident memory (`used_memory`), its peak, the machine's memory.
    case memory
    /// CPU time used by the process (`used_cpu_sys`, `used_cpu_user`).
    case cpu
    /// Connections, commands, traffic, keyspace hits and misses, pubsub channels.
    case stats
    /// `db0:keys=N,expires=N,avg_ttl=0`, absent while the database is empty.
    case keyspace
    /// The runtime's per-core counters (`RuntimeMetrics`), one `coreN_name:value` line each.
    case torus

    /// The header's name: `# Server`, `# CPU`.
    var title: String { self == .cpu ? "CPU" : rawValue.prefix(1).uppercased() + rawValue.dropFirst() }

    /// The sections `INFO` with these arguments reports, in print order.
    ///
    /// No argument, `default`, `all` and `everything` give every section (redis leaves a few
    /// costly ones out of `default`; none of these is costly). Names are matched without
    /// regard to case, several may be given (redis 7), and unknown ones are ignored: if no
    /// name is known the reply is empty, as redis's is.
    static func selected(by arguments: [[UInt8]]) -> [InfoSection] {
        if arguments.isEmpty { return allCases }
        var chosen = Set<InfoSection>()
        for argument in arguments {
            let name = String(decoding: argument, as: UTF8.self).lowercased()
            if ["default", "all", "everything"].contains(name) { return allCases }
            if let section = InfoSection(rawValue: name) { chosen.insert(section) }
        }
        return allCases.filter(chosen.contains)
    }
}

/// The text of an `INFO` reply in redis's format: a `# Title` line per section, then
/// `field:value` lines, every line ended by CRLF and a blank line between sections.
struct InfoText {
    private(set) var text = ""

    mutating func section(_ section: InfoSection) {
        if !text.isEmpty { text += "\r\n" }
        text += "# \(section.title)\r\n"
    }

    mutating func field(_ name: String, _ value: some CustomStringConvertible) {
        text += "\(name):\(value)\r\n"
    }

    /// A field whose value the kernel may not give: left out rather than shown as 0.
    mutating func field(_ name: String, _ value: (some CustomStringConvertible)?) {
        if let value { field(name, value) }
    }
}

/// Bytes as redis's `*_human` fields write them: `512B`, `965.59K`, `11.83M`, `1.50G`.
func humanBytes(_ bytes: UInt64) -> String {
    let units: [(suffix: String, size: UInt64)] = [("P", 1 << 50), ("T", 1 << 40), ("G", 1 << 30), ("M", 1 << 20), ("K", 1 << 10)]
    guard let unit = units.first(where: { bytes >= $0.size }) else { return "\(bytes)B" }
    return fixed(Double(bytes) / Double(unit.size), decimals: 2) + unit.suffix
}

/// `value` with exactly `decimals` digits after the point, rounded (`%.2f`, without
/// Foundation's formatter, which mini-redis does not link).
func fixed(_ value: Double, decimals: Int) -> String {
    var scale: UInt64 = 1
    for _ in 0..<decimals { scale *= 10 }
    let scaled = UInt64((max(value, 0) * Double(scale)).rounded())
    guard decimals > 0 else { return "\(scaled)" }
    let fraction = String(scaled % scale)
    return "\(scaled / scale)." + String(repeating: "0", count: decimals - fraction.count) + fraction
}
