import ArgumentParser
import Foundation
import Torus

/// `torus-echo bench`: the server pinned to one CPU, the client to another, a matrix of loads,
/// Torus and SwiftNIO in the same run, medians over repeats, and the server CPU's time per
/// message from /proc/stat (on a 2-CPU machine the client saturates first, so messages per
/// second alone cannot rank servers).
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the echo matrix against torus-echo and SwiftNIO's echo server, pinned to separate CPUs.",
        discussion: """
            Prints each configuration's median as it is measured. On SIGINT, SIGTERM or SIGHUP it \
            stops the servers and clients it started and exits 128+N (130, 143, 129) without the \
            final table.
            """)

    @Option(help: "CPU for the servers.") var serverCPU: Int = 0
    @Option(help: "CPU for the load generator.") var clientCPU: Int = 1
    @Option(help: "Seconds measured per run.") var duration: Double = 3
    @Option(help: "Seconds of warm-up per run.") var warmup: Double = 1
    @Option(help: "Runs per configuration (the median is reported).") var repeats: Int = 3
    @Option(help: "The SwiftNIO echo server (built by the Benchmarks package).") var nioServer: String = "Benchmarks/.build/release/nio-echo-server"
    @Option(help: "The hand-written C liburing echo server (built by the Benchmarks package); skipped if absent.") var cServer: String =
        "Benchmarks/.build/release/uring-echo-server"
    @Option(help: "Rewrite the echo section of this Markdown file (docs/benchmarks.md).") var write: String?
    @Flag(help: "One short run of each configuration (for tests).") var quick = false
    @Option(help: "Only the servers whose name contains one of these comma-separated texts (\"awaited,provided buffers\"); not with --write.")
    var servers: String?
    @Option(help: "Only the loads whose description contains this text (\"C=4 \", \"S=64\"); not with --write.") var only: String?

    func validate() throws {
        if only != nil, write != nil { throw ValidationError("--only measures part of the matrix; --write would drop the other rows") }
        if servers != nil, write != nil { throw ValidationError("--servers measures part of the matrix; --write would drop the other rows") }
    }

    struct Load: Hashable, CustomStringConvertible {
        var connections: Int
        var pipeline: Int
        var size: Int
        var description: String { "C=\(connections) P=\(pipeline) S=\(size)" }
    }

    static let matrix = [
        Load(connections: 1, pipeline: 1, size: 64), Load(connections: 50, pipeline: 1, size: 64),
        Load(connections: 50, pipeline: 8, size: 512), Load(connections: 500, pipeline: 1, size: 4096),
        // Bulk: few connections, large messages, several in flight (issue 18); the client's
        // byte pattern and check dominate its CPU, so judge the server's CPU per message.
        Load(connections: 4, pipeline: 8, size: 64 << 10),
    ]

    struct Sample {
        var messagesPerSecond: Double
        var p50: Double
        var p99: Double
        var cpuPerMessage: Double  // microseconds of server-CPU time
    }

    /// The child processes running now.
    static let children = BenchChildren()

    func run() throws {
        let signals = try SignalListener(stoppingSignals)
        Self.children.stopAll(on: signals)
        let me = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().path
        guard FileManager.default.isExecutableFile(atPath: nioServer) else {
            throw ValidationError(
                "SwiftNIO echo server not found at \(nioServer); build it with: (cd Benchmarks && swift build -c release --product nio-echo-server)")
        }
        var candidates: [(String, [String])] = [
            ("Torus (provided buffers)", [me, "server", "--port", "0", "--cores", "1"]),
            ("Torus (provided, 64 KiB)", [me, "server", "--port", "0", "--cores", "1", "--receive-buffer-size", "65536"]),
            ("Torus (owned buffers)", [me, "server", "--port", "0", "--cores", "1", "--buffers", "owned"]),
            ("Torus (provided, queued by the task)", [me, "server", "--port", "0", "--cores", "1", "--replies", "queued"]),
            ("Torus (provided, awaited sends)", [me, "server", "--port", "0", "--cores", "1", "--replies", "awaited"]),
            ("SwiftNIO", [nioServer, "--port", "0"]),
        ]
        if FileManager.default.isExecutableFile(atPath: cServer) {
            candidates.append(("C liburing (reference)", [cServer, "--port", "0"]))
        } else {
            say("note: no C reference server at \(cServer); build it with: (cd Benchmarks && swift build -c release --product uring-echo-server)")
        }
        let wanted = servers.map { $0.split(separator: ",").map(String.init) }
        let servers = candidates.filter { name, _ in wanted.map { $0.contains { name.contains($0) } } ?? true }
        let runs = quick ? 1 : repeats
        var results: [String: [Load: Sample]] = [:]
        // Interleaved: each repetition runs every server once, so that drift in this VM's speed
        // over the minutes of a bench does not favour whichever server ran first.
        for load in Self.matrix where only.map({ load.description.contains($0) }) ?? true {
            var samples: [String: [Sample]] = [:]
            for _ in 0..<runs {
                for (name, command) in servers {
                    let sample = try measure(server: command, load: load)
                    samples[name, default: []].append(sample)
                    if runs > 1 { say(String(format: "  run: %@  %@: server CPU %.2f us/msg", name, load.description, sample.cpuPerMessage)) }
                }
            }
            for (name, _) in servers {
                let runs = samples[name] ?? []
                let median = Sample(
                    messagesPerSecond: middle(runs.map(\.messagesPerSecond)), p50: middle(runs.map(\.p50)),
                    p99: middle(runs.map(\.p99)), cpuPerMessage: middle(runs.map(\.cpuPerMessage)))
                results[name, default: [:]][load] = median
                say(
                    String(
                        format: "%@  %@: %.0f msg/s  p50 %.1f us  p99 %.1f us  server CPU %.2f us/msg",
                        name, load.description, median.messagesPerSecond, median.p50, median.p99, median.cpuPerMessage))
            }
        }
        let table = render(results, names: servers.map(\.0))
        say("\n" + table)
        if let write {
            let body =
                "Measured \(ISO8601DateFormatter().string(from: Date())) on \(machineSummary()); server on CPU \(serverCPU), "
                + "load generator (torus-echo client) on CPU \(clientCPU); \(duration) s per run after \(warmup) s warm-up; median of \(runs).\n\n"
                + table
            try replaceSection("echo", in: write, with: body)
            say("wrote \(write)")
        }
    }

    /// One run: start the server on the server CPU, drive it from the client CPU, stop it.
    func measure(server command: [String], load: Load) throws -> Sample {
        let server = Process()
        server.executableURL = URL(fileURLWithPath: "/usr/bin/taskset")
        server.arguments = ["-c", "\(serverCPU)"] + command
        let serverOutput = Pipe()
        server.standardOutput = serverOutput
        try Self.children.run(server)
        defer {
            server.terminate()
            server.waitUntilExit()
            Self.children.finished(server)
        }
        guard let line = readLine(from: serverOutput.fileHandleForReading),
            let port = line.split(separator: ":").last.flatMap({ UInt16($0.prefix { $0.isNumber }) })
        else {
            throw ValidationError("the server did not report its port")
        }
        let before = cpuTicks(serverCPU)
        let client = Process()
        client.executableURL = URL(fileURLWithPath: "/usr/bin/taskset")
        let me = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().path
        client.arguments = [
            "-c", "\(clientCPU)", me, "client", "--port", "\(port)", "--cores", "1",
            "--connections", "\(load.connections)", "--pipeline", "\(load.pipeline)", "--size", "\(load.size)",
            "--duration", "\(quick ? 0.5 : duration)", "--warmup", "\(quick ? 0.2 : warmup)", "--json",
        ]
        let clientOutput = Pipe()
        client.standardOutput = clientOutput
        try Self.children.run(client)
        let data = clientOutput.fileHandleForReading.readDataToEndOfFile()
        client.waitUntilExit()
        Self.children.finished(client)
        let after = cpuTicks(serverCPU)
        guard client.terminationStatus == 0,
            let json = try JSONSerialization.jsonObject(with: data) as? [String: Any],
            let rate = json["messages_per_second"] as? Double, let all = json["all_messages"] as? Double,
            let latency = json["latency_us"] as? [String: Double]
        else {
            throw ValidationError("the client failed (status \(client.terminationStatus)): \(String(decoding: data, as: UTF8.self))")
        }
        let ticksPerSecond = Double(sysconf(Int32(_SC_CLK_TCK)))
        let cpuMicros = Double(after - before) / ticksPerSecond * 1e6
        return Sample(messagesPerSecond: rate, p50: latency["p50"] ?? 0, p99: latency["p99"] ?? 0, cpuPerMessage: cpuMicros / max(all, 1))
    }

    func render(_ results: [String: [Load: Sample]], names: [String]) -> String {
        var lines = [
            "| load | server | msgs/s | p50 us | p99 us | server CPU us/msg | CPU vs SwiftNIO | CPU vs C liburing |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for load in Self.matrix {
            let nio = results["SwiftNIO"]?[load]?.cpuPerMessage ?? .nan
            let c = results["C liburing (reference)"]?[load]?.cpuPerMessage ?? .nan
            for name in names {
                guard let sample = results[name]?[load] else { continue }
                // A peer left out by --servers has no ratio.
                let ratio = { (peer: Double) in peer.isNaN ? "-" : String(format: "%.2fx", sample.cpuPerMessage / peer) }
                lines.append(
                    String(
                        format: "| %@ | %@ | %.0f | %.1f | %.1f | %.2f | %@ | %@ |", load.description, name,
                        sample.messagesPerSecond, sample.p50, sample.p99, sample.cpuPerMessage, ratio(nio), ratio(c)))
            }
        }
        return lines.joined(separator: "\n")
    }
}

func middle(_ values: [Double]) -> Double {
    let sorted = values.sorted()
    return sorted.isEmpty ? .nan : sorted[sorted.count / 2]
}

/// user + nice + system + irq + softirq ticks of one CPU, from /proc/stat.
func cpuTicks(_ cpu: Int) -> UInt64 {
    let stat = (try? String(contentsOfFile: "/proc/stat", encoding: .utf8)) ?? ""
    guard let line = stat.split(separator: "\n").first(where: { $0.hasPrefix("cpu\(cpu) ") }) else { return 0 }
    let fields = line.split(separator: " ").dropFirst().compactMap { UInt64($0) }
    guard fields.count >= 7 else { return 0 }
    return fields[0] + fields[1] + fields[2] + fields[5] + fields[6]
}

func readLine(from handle: FileHandle) -> String? {
    var bytes: [UInt8] = []
    while true {
        let chunk = handle.readData(ofLength: 1)
        guard let byte = chunk.first else { return bytes.isEmpty ? nil : String(decoding: bytes, as: UTF8.self) }
        if byte == UInt8(ascii: "\n") { return String(decoding: bytes, as: UTF8.self) }
        bytes.append(byte)
    }
}

func machineSummary() -> String {
    var name = utsname()
    uname(&name)
    let release = withUnsafeBytes(of: &name.release) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
    return "\(ProcessInfo.processInfo.activeProcessorCount) CPUs, Linux \(release)"
}

/// Replaces `<!-- name:begin -->...<!-- name:end -->` in a Markdown file (appending if absent).
func replaceSection(_ name: String, in path: String, with body: String) throws {
    let begin = "<!-- \(name):begin -->"
    let end = "<!-- \(name):end -->"
    var text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
    let block = "\(begin)\n\(body)\n\(end)"
    if let start = text.range(of: begin), let stop = text.range(of: end) {
        text.replaceSubrange(start.lowerBound..<stop.upperBound, with: block)
    } else {
        text += "\n\(block)\n"
    }
    try text.write(toFile: path, atomically: true, encoding: .utf8)
}
