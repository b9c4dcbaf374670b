import Foundation

/// mini-redis on Torus against the real redis-server, both driven by redis-benchmark
/// (`-t set,get`) in the same run. Each server gets CPU 0 (mini-redis with one core), the load
/// generator CPU 1. Reported: server-CPU time per request from /proc/stat (user + system +
/// softirq of CPU 0; on two CPUs the load generator saturates first, so requests/s alone would
/// rank the load generator), with requests/s in the note. Run with `--only redis`.
struct RedisComparisons {
    let miniRedis: String
    let repetitions: Int
    let scale: Int

    struct Load {
        var clients: Int
        var pipeline: Int
    }

    static let loads = [Load(clients: 50, pipeline: 1), Load(clients: 50, pipeline: 16), Load(clients: 1, pipeline: 1)]

    struct Sample {
        var requestsPerSecond: [String: Double] = [:]
        var cpuMicrosecondsPerRequest: Double = 0
    }

    func run() throws -> [Comparison] {
        guard let benchmark = which("redis-benchmark"), let redisServer = which("redis-server") else {
            print("redis comparison skipped: install redis-tools and redis-server (apt-get install redis-tools redis-server)")
            return []
        }
        var rows: [Comparison] = []
        for load in Self.loads {
            var torus: [Sample] = []
            var redis: [Sample] = []
            for repetition in 0..<repetitions {
                // Alternate which server goes first (CPU frequency and cache state drift).
                let order = repetition % 2 == 0 ? [true, false] : [false, true]
                for isTorus in order {
                    let port = 17_000 + repetition * 2 + (isTorus ? 0 : 1)
                    let command =
                        isTorus
                        ? [miniRedis, "--port", "\(port)", "--cores", "1"]
                        : [redisServer, "--port", "\(port)", "--save", "", "--appendonly", "no", "--daemonize", "no"]
                    let sample = try measure(server: command, port: port, load: load, benchmark: benchmark)
                    if isTorus { torus.append(sample) } else { redis.append(sample) }
                }
            }
            for test in ["SET", "GET"] {
                let torusRate = median(torus.map { $0.requestsPerSecond[test] ?? 0 })
                let redisRate = median(redis.map { $0.requestsPerSecond[test] ?? 0 })
                rows.append(
                    Comparison(
                        name: "redis-benchmark \(test), \(load.clients) clients, pipeline \(load.pipeline): server CPU per request",
                        unit: "µs", torus: median(torus.map(\.cpuMicrosecondsPerRequest)),
                        peers: [("redis-server 7", median(redis.map(\.cpuMicrosecondsPerRequest)))],
                        note: String(
                            format: "%.0fk req/s vs %.0fk req/s (%.2fx); CPU is for SET and GET together", torusRate / 1000, redisRate / 1000,
                            torusRate / redisRate)))
            }
        }
        return rows
    }

    /// Starts the server pinned to CPU 0, runs redis-benchmark pinned to CPU 1, stops the server.
    func measure(server command: [String], port: Int, load: Load, benchmark: String) throws -> Sample {
        let server = Process()
        server.executableURL = URL(fileURLWithPath: "/usr/bin/taskset")
        server.arguments = ["-c", "0"] + command
        server.standardOutput = FileHandle.nullDevice
        server.standardError = FileHandle.nullDevice
        try server.run()
        defer {
            server.terminate()
            server.waitUntilExit()
        }
        // Wait until it answers.
        for _ in 0..<200 {
            if let probe = try? runCapturing(["/usr/bin/env", "redis-cli", "-p", "\(port)", "PING"]), probe.contains("PONG") { break }
            usleep(10_000)
        }
        let requests = (load.pipeline > 1 ? 2_000_000 : load.clients == 1 ? 100_000 : 400_000) / scale
        let ticksBefore = cpuTicks(0)
        let output = try runCapturing([
            "/usr/bin/taskset", "-c", "1", benchmark, "-p", "\(port)", "-t", "set,get",
            "-n", "\(requests)", "-c", "\(load.clients)", "-P", "\(load.pipeline)", "-q", "--csv",
        ])
        let ticks = cpuTicks(0) - ticksBefore
        var sample = Sample()
        for line in output.split(separator: "\n") {
            let fields = line.split(separator: ",").map { $0.trimmingCharacters(in: CharacterSet(charactersIn: "\"")) }
            if fields.count >= 2, let rate = Double(fields[1]) { sample.requestsPerSecond[fields[0]] = rate }
        }
        let hertz = Double(sysconf(Int32(_SC_CLK_TCK)))
        sample.cpuMicrosecondsPerRequest = Double(ticks) / hertz * 1e6 / Double(requests * 2)
        return sample
    }
}

/// user + nice + system + irq + softirq ticks of one CPU, from /proc/stat.
func cpuTicks(_ cpu: Int) -> UInt64 {
    let stat = (try? String(contentsOfFile: "/proc/stat", encoding: .utf8)) ?? ""
    guard let line = stat.split(separator: "\n").first(where: { $0.hasPrefix("cpu\(cpu) ") }) else { return 0 }
    let fields = line.split(separator: " ").dropFirst().compactMap { UInt64($0) }
    guard fields.count >= 7 else { return 0 }
    return fields[0] + fields[1] + fields[2] + fields[5] + fields[6]
}

/// The full path of a program on PATH.
func which(_ program: String) -> String? {
    for directory in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":") {
        let path = "\(directory)/\(program)"
        if FileManager.default.isExecutableFile(atPath: path) { return path }
    }
    return nil
}

/// Runs a program and returns its stdout.
func runCapturing(_ arguments: [String]) throws -> String {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: arguments[0])
    process.arguments = Array(arguments.dropFirst())
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = FileHandle.nullDevice
    try process.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return String(decoding: data, as: UTF8.self)
}
