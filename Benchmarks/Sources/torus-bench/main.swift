// torus-bench: Torus against its peers, in the same process and the same run.
//
//   torus-bench [--repeat N] [--quick] [--only TEXT] [--cp-here] [--write PATH]
//
// Every row reports a median over N repetitions (after a warm-up) and the ratio peer / Torus:
// above 1.00x means Torus is faster (or, for lateness, more punctual).
import Foundation
import NIOPosix
import Torus

var repetitions = 5
var scale = 1
var writePath: String?
/// Run only the comparisons named by these comma-separated words (`mpsc` selects `mpsc-same`
/// and `mpsc-cross`).
nonisolated(unsafe) var only: String?
/// `--cp-here`: the torus-cp comparison also runs in the benchmark directory itself, not only
/// on fresh loop-device file systems.
nonisolated(unsafe) var copyHere = false

/// Whether the comparison called `name` runs (`--only`): its name, or its name's first part
/// before a dash, is one of the words (so `cp` does not select `tcp`).
func selected(_ name: String) -> Bool {
    guard let only else { return true }
    return only.split(separator: ",").contains { name == $0 || name.hasPrefix($0 + "-") }
}
var arguments = CommandLine.arguments.dropFirst().makeIterator()
while let argument = arguments.next() {
    switch argument {
    case "--repeat": repetitions = Int(arguments.next() ?? "") ?? repetitions
    case "--quick": scale = 10
    case "--write": writePath = arguments.next()
    case "--only": only = arguments.next()
    case "--cp-here": copyHere = true
    case "--idle-clients":
        holdIdleClients(count: Int(arguments.next() ?? "") ?? 0, port: UInt16(arguments.next() ?? "") ?? 0)
    default:
        print("usage: torus-bench [--repeat N] [--quick] [--only TEXT] [--cp-here] [--write PATH]")
        exit(64)
    }
}

let machine = machineDescription()
print("machine: \(machine)")
let runtime = try Runtime(RuntimeConfiguration(cores: .count(2)))
// SwiftNIO twice: with its threads pinned to CPUs 0 and 1 like Torus's cores (the like-for-like
// comparison), and as it ships (unpinned: the scheduler may keep both threads on one CPU, which
// makes cross-thread wake-ups cheaper and cross-core parallelism absent).
let loops = MultiThreadedEventLoopGroup(numberOfThreads: 2)
let unpinnedLoops = MultiThreadedEventLoopGroup(numberOfThreads: 2)
let cpus = ThreadAffinity.allowedCPUs
for (index, loop) in loops.makeIterator().enumerated() {
    try loop.submit { try ThreadAffinity.pinCurrentThread(to: cpus[index % cpus.count]) }.wait()
}
print(runtime.capabilities.description.split(separator: "\n").prefix(3).joined(separator: "\n"))

let runtimeRows =
    only != nil && !selected("runtime")
    ? [] : try RuntimeComparisons(runtime: runtime, loops: loops, unpinnedLoops: unpinnedLoops, repetitions: repetitions, scale: scale).run()
printTable("Runtime foundation", runtimeRows)
let channelRows =
    !["mpsc-same", "mpsc-cross", "oneshot", "mutex-uncontended", "mutex-contended"].contains(where: selected)
    ? [] : try ChannelComparisons(runtime: runtime, loops: loops, repetitions: repetitions, scale: scale).run()
let timeoutRows = try TimeoutComparisons(runtime: runtime, repetitions: repetitions, scale: scale).run()
printTable("Channels and synchronization", channelRows + timeoutRows)
let fileRows =
    !selected("files")
    ? []
    : try FileComparisons(
        runtime: runtime, repetitions: repetitions, scale: scale,
        directory: ProcessInfo.processInfo.environment["TORUS_BENCH_DIR"] ?? FileManager.default.currentDirectoryPath
    ).run()
printTable("Files", fileRows)
let tcpRows = !selected("tcp") ? [] : try TCPComparisons(runtime: runtime, loops: loops, repetitions: repetitions, scale: scale).run()
let idleRows = !selected("idle") ? [] : try IdleConnections(connections: 10_000 / scale).run()
printTable("TCP", tcpRows + idleRows)
// torus-cp against cp only on request: it writes gigabytes and drops the page cache. Each
// workload on a fresh journaled ext4 on a loop device (what users have; needs root), and, with
// `--cp-here` too, in the benchmark directory itself (this VM's journal-less ext4).
let copyDirectory = ProcessInfo.processInfo.environment["TORUS_BENCH_DIR"] ?? FileManager.default.currentDirectoryPath
let copyRows =
    only != nil && selected("cp")
    ? try CopyComparisons(
        directory: copyDirectory, repetitions: max(1, repetitions), scale: scale, torusCopy: "../.build/release/torus-cp",
        referenceCopy: URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("copy-reference").path,
        freshFileSystems: true
    ).run() : []
printTable("torus-cp (fresh journaled ext4 on a loop device)", copyRows)
let copyHereRows =
    only != nil && selected("cp") && copyHere
    ? try CopyComparisons(
        directory: copyDirectory, repetitions: max(1, repetitions), scale: scale, torusCopy: "../.build/release/torus-cp"
    ).run() : []
printTable("torus-cp (in \(copyDirectory): \(fileSystemDescription()))", copyHereRows)
// mini-redis against redis-server only on request: it needs redis-server and redis-tools.
let redisRows =
    only != nil && selected("redis")
    ? try RedisComparisons(
        miniRedis: "../.build/release/mini-redis-server", repetitions: max(1, repetitions), scale: scale
    ).run() : []
printTable("mini-redis", redisRows)

runtime.shutdown()
try loops.syncShutdownGracefully()
try unpinnedLoops.syncShutdownGracefully()

if let writePath {
    let date = ISO8601DateFormatter().string(from: Date())
    let body = """
        Measured \(date) on \(machine); release build; median of \(repetitions) runs after a warm-up\
        \(scale > 1 ? " (quick mode: 1/\(scale) of the operations)" : ""). Both cores in use, Torus and \
        SwiftNIO each with 2 threads; \
        "pinned" NIO threads were pinned to CPUs 0 and 1 as Torus pins its cores.

        \(markdownTable(runtimeRows))
        """
    if !runtimeRows.isEmpty { try writeSection("runtime", body: body, to: writePath) }
    if !fileRows.isEmpty {
        try writeSection(
            "files",
            body: "Measured \(date) on \(machine); release build; median of \(repetitions) runs; file on \(fileSystemDescription()).\n\n"
                + markdownTable(fileRows), to: writePath)
    }
    if !(tcpRows + idleRows).isEmpty {
        try writeSection(
            "tcp",
            body: "Measured \(date) on \(machine); release build; median of \(repetitions) runs; NIO's loops pinned to CPUs 0 and 1.\n\n"
                + markdownTable(tcpRows + idleRows), to: writePath)
    }
    if !copyRows.isEmpty {
        try writeSection(
            "cp",
            body:
                "Measured \(date) on \(machine); each workload on a fresh journaled ext4 (`mkfs.ext4`, inode tables written at once) on a file-backed loop device (`losetup --direct-io=on`) in \(fileSystemDescription()); median of \(max(1, repetitions)) runs; every copy verified by content; cold = `sync` and `echo 3 > /proc/sys/vm/drop_caches` before each run.\n\n"
                + markdownTable(copyRows), to: writePath)
    }
    if !copyHereRows.isEmpty {
        try writeSection(
            "cp-here",
            body:
                "Measured \(date) on \(machine); directly on \(fileSystemDescription()), this VM's ext4 without a journal; median of \(max(1, repetitions)) runs; every copy verified by content; cold as above.\n\n"
                + markdownTable(copyHereRows), to: writePath)
    }
    if !redisRows.isEmpty {
        try writeSection(
            "redis",
            body:
                "Measured \(date) on \(machine); release build; median of \(max(1, repetitions)) runs; each server pinned to CPU 0 (mini-redis-server with one Torus core, redis-server single-threaded, no persistence), redis-benchmark pinned to CPU 1; server CPU = user + system + softirq time of CPU 0 per request.\n\n"
                + markdownTable(redisRows), to: writePath)
    }
    if !channelRows.isEmpty {
        try writeSection(
            "channels", body: "Measured \(date) on \(machine); release build; median of \(repetitions) runs.\n\n" + markdownTable(channelRows),
            to: writePath)
    }
    if !timeoutRows.isEmpty {
        try writeSection(
            "timeouts",
            body: "Measured \(date) on \(machine); release build; median of \(repetitions) runs, the four ways interleaved in every run.\n\n"
                + markdownTable(timeoutRows), to: writePath)
    }
    print("\nwrote \(writePath)")
}
