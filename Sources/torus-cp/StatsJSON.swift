/// How a file's bytes moved, counted apart in the statistics: `--method auto` picks per file,
/// and --json tells which it took.
enum DataRoute: String, CaseIterable, Sendable {
    /// `copy_file_range(2)`: the kernel copies page cache to page cache.
    case copyFileRange = "copy_file_range"
    /// `IORING_OP_SPLICE` through a pipe.
    case splice
    /// Reads into a buffer and writes from it (the ring's, or plain calls for small files).
    case readWrite = "read_write"
}

extension CopyReport {
    /// `--json`: the `--stats` figures as one JSON object on one line. The key names are an
    /// interface (README, "torus-cp --json"): add keys, never rename or drop one.
    /// - Parameters:
    ///   - method: the `--method` asked for.
    ///   - signal: the signal that stopped the copy, if one did.
    func json(method: CopyMethod, signal: String?) -> String {
        let c = snapshot
        let seconds = elapsedSeconds
        let routes = DataRoute.allCases.map { "\"\($0.rawValue)\":\(c.bytesByRoute[$0, default: 0])" }
        let fields = [
            "\"files\":\(c.files)",
            "\"directories\":\(c.directories)",
            "\"symbolic_links\":\(c.symbolicLinks)",
            "\"skipped\":\(c.skipped)",
            "\"failures\":\(c.failures)",
            "\"bytes\":\(c.bytes)",
            "\"bytes_by_route\":{\(routes.joined(separator: ","))}",
            "\"method\":\"\(method.rawValue)\"",
            "\"seconds\":\(decimal(seconds, 6))",
            "\"bytes_per_second\":\(decimal(Double(c.bytes) / max(seconds, 1e-9), 0))",
            "\"cpu_seconds\":\(decimal(cpuSeconds, 6))",
            // Only our own signal names (SIGINT...): nothing here needs JSON escaping.
            "\"signal\":" + (signal.map { "\"\($0)\"" } ?? "null"),
        ]
        return "{" + fields.joined(separator: ",") + "}"
    }
}
