import Dispatch
import Foundation

/// One row of a comparison: Torus and its peers measured in the same run.
struct Comparison {
    var name: String
    var unit: String
    /// Lower is better for every unit used here (time or CPU per operation).
    var torus: Double
    var peers: [(name: String, value: Double)]
    var note: String = ""
}

/// Process CPU time (user + system, all threads) in nanoseconds.
func processCPUNanoseconds() -> UInt64 {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    func ns(_ t: timeval) -> UInt64 { UInt64(t.tv_sec) * 1_000_000_000 + UInt64(t.tv_usec) * 1000 }
    return ns(usage.ru_utime) + ns(usage.ru_stime)
}

struct Sample {
    var wallPerOp: Double
    var cpuPerOp: Double
}

/// Runs `body` (which performs `operations` operations) `repetitions` times after one warm-up
/// and returns the median wall and CPU nanoseconds per operation.
func measure(operations: Int, repetitions: Int, _ body: () throws -> Void) rethrows -> Sample {
    try body()  // warm-up
    var walls: [Double] = []
    var cpus: [Double] = []
    for _ in 0..<repetitions {
        let cpuStart = processCPUNanoseconds()
        let start = DispatchTime.now().uptimeNanoseconds
        try body()
        let wall = DispatchTime.now().uptimeNanoseconds - start
        let cpu = processCPUNanoseconds() - cpuStart
        walls.append(Double(wall) / Double(operations))
        cpus.append(Double(cpu) / Double(operations))
    }
    return Sample(wallPerOp: median(walls), cpuPerOp: median(cpus))
}

/// The median wall and CPU time of several samples (each taken on its own).
func medianSample(_ samples: [Sample]) -> Sample {
    Sample(wallPerOp: median(samples.map(\.wallPerOp)), cpuPerOp: median(samples.map(\.cpuPerOp)))
}

func median(_ values: [Double]) -> Double {
    let sorted = values.sorted()
    guard !sorted.isEmpty else { return .nan }
    return sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
}

/// Runs an async body on Swift's global executor and blocks the calling (plain) thread for it.
final class ResultBox<T>: @unchecked Sendable {
    // @unchecked: written once by the task before the semaphore is signalled, read after.
    var result: Result<T, any Error>?
}

func blockOnGlobal<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) rethrows -> T {
    let box = ResultBox<T>()
    let done = DispatchSemaphore(value: 0)
    Task.detached {
        do { box.result = .success(try await body()) } catch { box.result = .failure(error) }
        done.signal()
    }
    done.wait()
    return try! box.result!.get()
}

func format(_ value: Double, unit: String) -> String {
    if unit.hasPrefix("ns") {
        if value >= 1_000_000 { return String(format: "%.2f ms", value / 1_000_000) }
        if value >= 10_000 { return String(format: "%.1f us", value / 1_000) }
        return String(format: value < 10 ? "%.1f ns" : "%.0f ns", value)
    }
    // Below 10 of a unit, two decimals: a pipelined request costs 0.7 us, where one decimal
    // hides a 10% difference.
    return String(format: value < 10 ? "%.2f %@" : "%.1f %@", value, unit)
}

/// The comparison as a Markdown table (ratio = peer / Torus, so above 1 means Torus is ahead).
func markdownTable(_ rows: [Comparison]) -> String {
    var lines = ["| benchmark | Torus | peer | peer value | peer / Torus | note |", "|---|---|---|---|---|---|"]
    for row in rows {
        for (index, peer) in row.peers.enumerated() {
            let name = index == 0 ? row.name : ""
            let torus = index == 0 ? format(row.torus, unit: row.unit) : ""
            lines.append(
                "| \(name) | \(torus) | \(peer.name) | \(format(peer.value, unit: row.unit)) | \(String(format: "%.2fx", peer.value / row.torus)) | \(index == 0 ? row.note : "") |"
            )
        }
    }
    return lines.joined(separator: "\n")
}

/// The same, for a terminal.
func printTable(_ title: String, _ rows: [Comparison]) {
    print("\n## \(title)")
    print(markdownTable(rows))
}

/// Machine facts for the report.
func machineDescription() -> String {
    var name = utsname()
    uname(&name)
    let release = withUnsafeBytes(of: &name.release) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
    let cpuInfo = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
    let model =
        cpuInfo.split(separator: "\n").first { $0.hasPrefix("model name") }?
        .split(separator: ":", maxSplits: 1).last.map { $0.trimmingCharacters(in: .whitespaces) } ?? "unknown CPU"
    let memory = ProcessInfo.processInfo.physicalMemory / (1 << 30)
    return "\(ProcessInfo.processInfo.activeProcessorCount) x \(model), \(memory) GiB, Linux \(release)"
}

/// Replaces the text between `<!-- name:begin -->` and `<!-- name:end -->` in `path`
/// (appending the section if it is not there yet).
func writeSection(_ name: String, body: String, to path: String) throws {
    let begin = "<!-- \(name):begin -->"
    let end = "<!-- \(name):end -->"
    var text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? "# Benchmarks\n"
    let block = "\(begin)\n\(body)\n\(end)"
    if let start = text.range(of: begin), let stop = text.range(of: end), start.lowerBound < stop.lowerBound {
        text.replaceSubrange(start.lowerBound..<stop.upperBound, with: block)
    } else {
        text += "\n\(block)\n"
    }
    try text.write(toFile: path, atomically: true, encoding: .utf8)
}

/// The file system the benchmark files live on, from /proc/mounts (best match for the cwd).
func fileSystemDescription() -> String {
    let cwd = ProcessInfo.processInfo.environment["TORUS_BENCH_DIR"] ?? FileManager.default.currentDirectoryPath
    let mounts = (try? String(contentsOfFile: "/proc/mounts", encoding: .utf8)) ?? ""
    var best = ("?", "?", 0)
    for line in mounts.split(separator: "\n") {
        let fields = line.split(separator: " ")
        guard fields.count > 2 else { continue }
        let point = String(fields[1])
        if cwd.hasPrefix(point) && point.count > best.2 { best = (String(fields[2]), String(fields[0]), point.count) }
    }
    return "\(best.0) (\(best.1))"
}

/// Runs a program to completion and returns its standard output; throws with its standard
/// error if it fails.
func commandOutput(_ arguments: [String]) throws -> String {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: arguments[0])
    process.arguments = Array(arguments.dropFirst())
    let output = Pipe()
    let errors = Pipe()
    process.standardOutput = output
    process.standardError = errors
    try process.run()
    // Standard error drained on another thread while standard output is read here: a program
    // that fills one pipe while the other is being read would otherwise block for ever.
    let message = ResultBox<Data>()
    let drained = DispatchSemaphore(value: 0)
    Thread {
        message.result = .success(errors.fileHandleForReading.readDataToEndOfFile())
        drained.signal()
    }.start()
    let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    drained.wait()
    process.waitUntilExit()
    let stderrText = String(decoding: (try? message.result?.get()) ?? Data(), as: UTF8.self)
    guard process.terminationStatus == 0 else {
        throw CopyBenchError("\(arguments.joined(separator: " ")) failed (\(process.terminationStatus)): \(stderrText)")
    }
    return text
}

/// Runs every body once to warm up, then `repetitions` rounds in which each body runs once, the
/// first to go rotating from round to round (the VM's speed drifts: every way sees the same
/// drift); each body's median wall and CPU time per operation.
func measureInterleaved(operations: Int, repetitions: Int, _ bodies: [() throws -> Void]) throws -> [Sample] {
    for body in bodies { try body() }
    var walls = Array(repeating: [Double](), count: bodies.count)
    var cpus = Array(repeating: [Double](), count: bodies.count)
    for round in 0..<repetitions {
        for step in 0..<bodies.count {
            let index = (round + step) % bodies.count
            let cpuStart = processCPUNanoseconds()
            let start = DispatchTime.now().uptimeNanoseconds
            try bodies[index]()
            walls[index].append(Double(DispatchTime.now().uptimeNanoseconds - start) / Double(operations))
            cpus[index].append(Double(processCPUNanoseconds() - cpuStart) / Double(operations))
        }
    }
    return (0..<bodies.count).map { Sample(wallPerOp: median(walls[$0]), cpuPerOp: median(cpus[$0])) }
}
