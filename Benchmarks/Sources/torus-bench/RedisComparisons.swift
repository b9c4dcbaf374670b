import Foundation

/// mini-redis on Torus against the real redis-server, both driven by redis-benchmark
/// (`-t set,get`) in the same run. Each server gets CPU 0 (mini-redis with one core), the load
/// generator CPU 1. Reported: server-CPU time per request from /proc/stat (user + system +
/// softirq of CPU 0; on two CPUs the load generator saturates first, so requests/s alone would
/// rank the load generator), with requests/s in the note; and mini-redis on two cores against
/// one, by the server process's CPU per request. Run with `--only redis`.
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
        /// From CPU 0's ticks (the server's CPU: its process and the kernel's network work there).
        var cpuMicrosecondsPerRequest: Double = 0
        /// From the server process's own user and system time (whatever CPUs it ran on): what
        /// compares a server on one core with the same server on two.
        var processMicrosecondsPerRequest: Double = 0
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
            var torusTwoCores: [Sample] = []
            for repetition in 0..<repetitions {
                // Rotate which server goes first (CPU frequency and cache state drift).
                let servers = ["torus", "redis", "torus-2"]
                for offset in 0..<servers.count {
                    let server = servers[(offset + repetition) % servers.count]
                    let port = 17_000 + repetition * 3 + offset
                    let command =
                        server == "redis"
                        ? [redisServer, "--port", "\(port)", "--save", "", "--appendonly", "no", "--daemonize", "no"]
                        : [miniRedis, "--port", "\(port)", "--cores", server == "torus" ? "1" : "2"]
                    let sample = try measure(server: command, cpus: server == "torus-2" ? "0,1" : "0", port: port, load: load, benchmark: benchmark)
                    switch server {
                    case "torus": torus.append(sample)
                    case "redis": redis.append(sample)
                    default: torusTwoCores.append(sample)
                    }
                }
            }
            // Thread-per-core scaling: the same server on two cores (the keyspace shared by
            // both, each connection served on the core that accepted it) against one, by the
            // server process's CPU per request. The load generator keeps CPU 1, so on two
            // cores it shares a CPU with the server's second core and is the limit.
            let oneCore = median(torus.map(\.processMicrosecondsPerRequest))
            let twoCores = median(torusTwoCores.map(\.processMicrosecondsPerRequest))
            rows.append(
                Comparison(
                    name: "mini-redis on 2 cores, \(load.clients) clients, pipeline \(load.pipeline): server process CPU per request",
                    unit: "µs", torus: twoCores, peers: [("mini-redis on 1 core", oneCore)],
                    note: String(
                        format: "SET %.0fk req/s on 2 cores, %.0fk on 1 (the load generator shares CPU 1 with the second core)",
                        median(torusTwoCores.map { $0.requestsPerSecond["SET"] ?? 0 }) / 1000,
                        median(torus.map { $0.requestsPerSecond["SET"] ?? 0 }) / 1000)))
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

    /// Starts the server pinned to `cpus`, runs redis-benchmark pinned to CPU 1, stops the server.
    func measure(server command: [String], cpus: String, port: Int, load: Load, benchmark: String) throws -> Sample {
        let server = Process()
        server.executableURL = URL(fileURLWithPath: "/usr/bin/taskset")
        server.arguments = ["-c", cpus] + command
        server.standardOutput = FileHandle.nullDevice
        server.standardError = FileHandle.nullDevice
        try server.run()
        defer {
            server.terminate()
            server.waitUntilExit()
        }
        // Wait until it answers.
        for _ in 0..<200 {
            if let probe = try? commandOutput(["/usr/bin/env", "redis-cli", "-p", "\(port)", "PING"]), probe.contains("PONG") { break }
            usleep(10_000)
        }
        let requests = (load.pipeline > 1 ? 2_000_000 : load.clients == 1 ? 100_000 : 400_000) / scale
        let ticksBefore = cpuTicks(0)
        // taskset execs the server in its own process: its pid is the server's.
        let processBefore = processCPUTicks(server.processIdentifier)
        let output = try commandOutput([
            "/usr/bin/taskset", "-c", "1", benchmark, "-p", "\(port)", "-t", "set,get",
            "-n", "\(requests)", "-c", "\(load.clients)", "-P", "\(load.pipeline)", "-q", "--csv",
        ])
        let ticks = cpuTicks(0) - ticksBefore
        let processTicks = processCPUTicks(server.processIdentifier) - processBefore
        var sample = Sample()
        for line in output.split(separator: "\n") {
            let fields = line.split(separator: ",").map { $0.trimmingCharacters(in: CharacterSet(charactersIn: "\"")) }
            if fields.count >= 2, let rate = Double(fields[1]) { sample.requestsPerSecond[fields[0]] = rate }
        }
        let hertz = Double(sysconf(Int32(_SC_CLK_TCK)))
        sample.cpuMicrosecondsPerRequest = Double(ticks) / hertz * 1e6 / Double(requests * 2)
        sample.processMicrosecondsPerRequest = Double(processTicks) / hertz * 1e6 / Double(requests * 2)
        return sample
    }
}

/// User + system ticks of process `pid` (all its threads), from /proc/pid/stat.
func processCPUTicks(_ pid: Int32) -> UInt64 {
    let stat = (try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)) ?? ""
    // The command name, in parentheses, may contain spaces: count fields after its end.
    guard let end = stat.lastIndex(of: ")") else { return 0 }
    let fields = stat[stat.index(after: end)...].split(separator: " ")
    // After ")": state is field 3 of stat(5), so utime (14) and stime (15) are at 11 and 12.
    guard fields.count > 12, let user = UInt64(fields[11]), let system = UInt64(fields[12]) else { return 0 }
    return user + system
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
