import CReadReference
import Foundation
import Synchronization
import Torus

/// Reads through the ring against Foundation's FileHandle, `pread` threads (the design of epoll
/// runtimes, SwiftNIO's NIOFileSystem included) and a hand-written C liburing reader (the floor:
/// the ring with no runtime on top), on one core and on every core. Every way runs once per
/// repetition, interleaved, and every read's byte count is checked.
struct FileComparisons {
    let runtime: Runtime
    let repetitions: Int
    let scale: Int
    let directory: String

    var fileSize: Int { ((1 << 30) / scale) & ~((1 << 20) - 1) }

    func run() throws -> [Comparison] {
        let path = directory + "/torus-bench-1g.bin"
        try prepare(path)
        defer { try? FileManager.default.removeItem(atPath: path) }
        return try sequential(path) + random(path) + [try creation()]
    }

    /// A file of `fileSize` pseudo-random bytes, read once so the page cache is warm.
    func prepare(_ path: String) throws {
        let chunk = Data((0..<(1 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 2_654_435_761) })
        _ = FileManager.default.createFile(atPath: path, contents: nil)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        for _ in 0..<(fileSize >> 20) { try handle.write(contentsOf: chunk) }
        try handle.close()
        let reader = try FileHandle(forReadingFrom: URL(fileURLWithPath: path))
        while let data = try reader.read(upToCount: 8 << 20), !data.isEmpty {}
        try reader.close()
    }

    /// 1 MiB chunks: 8 in flight per core, on one core and on both.
    func sequential(_ path: String) throws -> [Comparison] {
        let chunk = 1 << 20
        let chunks = fileSize / chunk
        let reads = ReadWorkload(path: path, size: chunk, jobs: chunks, depth: 8, sequential: true)
        let samples = try measureInterleaved(
            operations: chunks, repetitions: repetitions,
            [
                { try reads.torus(on: runtime, cores: 1) },
                { try reads.torus(on: runtime, cores: 2) },
                {
                    let reader = try FileHandle(forReadingFrom: URL(fileURLWithPath: path))
                    var total = 0
                    while let data = try reader.read(upToCount: chunk), !data.isEmpty { total += data.count }
                    try reader.close()
                    precondition(total == fileSize)
                },
                { reads.pread(threads: 1) },
                { reads.pread(threads: 2) },
                { try reads.c(threads: 1) },
                { try reads.c(threads: 2) },
            ])
        let (oneCore, twoCores, handle, onePread, twoPread, oneC, twoC) = (
            samples[0], samples[1], samples[2], samples[3], samples[4], samples[5], samples[6]
        )
        let gib = Double(fileSize) / Double(1 << 30)
        let name = "sequential read, \(String(format: "%.2g", gib)) GiB warm, 1 MiB chunks, QD 8"
        return [
            Comparison(
                name: name + ", one core", unit: "ns/op", torus: oneCore.wallPerOp,
                peers: [
                    ("Foundation FileHandle.read", handle.wallPerOp), ("1-thread pread (1 CPU)", onePread.wallPerOp),
                    ("C liburing, QD 8 (1 CPU)", oneC.wallPerOp), ("2-thread pread pool (2 CPUs)", twoPread.wallPerOp),
                ],
                note: String(
                    format: "Torus %.1f GiB/s; CPU/read: Torus %@, C liburing %@, pread %@", Double(chunk) / oneCore.wallPerOp,
                    format(oneCore.cpuPerOp, unit: "ns/op"), format(oneC.cpuPerOp, unit: "ns/op"), format(onePread.cpuPerOp, unit: "ns/op"))),
            Comparison(
                name: name + " per core, both cores", unit: "ns/op", torus: twoCores.wallPerOp,
                peers: [("2-thread pread pool", twoPread.wallPerOp), ("C liburing, 2 threads", twoC.wallPerOp)],
                note: String(
                    format: "Torus %.1f GiB/s; CPU/read: Torus %@, C liburing %@, pool %@", Double(chunk) / twoCores.wallPerOp,
                    format(twoCores.cpuPerOp, unit: "ns/op"), format(twoC.cpuPerOp, unit: "ns/op"), format(twoPread.cpuPerOp, unit: "ns/op"))),
        ]
    }

    /// 4 KiB reads at random offsets: 32 in flight per core, from 32 tasks or as batches of 32
    /// (`File.read(_:)`), on one core and on both.
    func random(_ path: String) throws -> [Comparison] {
        let count = 200_000 / scale
        let reads = ReadWorkload(path: path, size: 4096, jobs: count, depth: 32, sequential: false)
        let samples = try measureInterleaved(
            operations: count, repetitions: repetitions,
            [
                { try reads.torus(on: runtime, cores: 1) },
                { try reads.torus(on: runtime, cores: 1, batched: true) },
                { try reads.torus(on: runtime, cores: 2) },
                { try reads.torus(on: runtime, cores: 2, batched: true) },
                { reads.pread(threads: 1) },
                { reads.pread(threads: 2) },
                { try reads.c(threads: 1) },
                { try reads.c(threads: 1, fixedFile: true) },
                { try reads.c(threads: 2) },
                { try reads.c(threads: 1, fixedBuffers: true) },
                { try reads.c(threads: 1, fixedFile: true, fixedBuffers: true) },
            ])
        let (tasks, batches, tasks2, batches2) = (samples[0], samples[1], samples[2], samples[3])
        let (onePread, twoPread, oneC, oneFixedC, twoC) = (samples[4], samples[5], samples[6], samples[7], samples[8])
        let (oneFixedBuffersC, oneFixedBothC) = (samples[9], samples[10])
        func cpu(_ sample: Sample) -> String { format(sample.cpuPerOp, unit: "ns/op") }
        return [
            Comparison(
                name: "4 KiB random reads, warm, QD 32 (32 tasks), one core", unit: "ns/op", torus: tasks.wallPerOp,
                peers: [
                    ("1-thread pread (1 CPU)", onePread.wallPerOp), ("C liburing, QD 32 (1 CPU)", oneC.wallPerOp),
                    ("C liburing, QD 32, registered file", oneFixedC.wallPerOp),
                    ("C liburing, QD 32, registered buffers", oneFixedBuffersC.wallPerOp),
                    ("C liburing, QD 32, registered file and buffers", oneFixedBothC.wallPerOp),
                    ("2-thread pread pool (2 CPUs)", twoPread.wallPerOp),
                ],
                note: String(
                    format: "Torus %.0fk IOPS; CPU/read: Torus %@, C %@, pread %@", 1e6 / tasks.wallPerOp, cpu(tasks), cpu(oneC), cpu(onePread))),
            Comparison(
                name: "4 KiB random reads, warm, batches of 32 (File.read(_:)), one core", unit: "ns/op", torus: batches.wallPerOp,
                peers: [("1-thread pread (1 CPU)", onePread.wallPerOp), ("C liburing, QD 32 (1 CPU)", oneC.wallPerOp)],
                note: String(format: "Torus %.0fk IOPS, CPU/read %@", 1e6 / batches.wallPerOp, cpu(batches))),
            Comparison(
                name: "4 KiB random reads, warm, QD 32 per core (32 tasks each), both cores", unit: "ns/op", torus: tasks2.wallPerOp,
                peers: [("2-thread pread pool", twoPread.wallPerOp), ("C liburing, 2 threads", twoC.wallPerOp)],
                note: String(
                    format: "Torus %.0fk IOPS; CPU/read: Torus %@, C %@, pool %@", 1e6 / tasks2.wallPerOp, cpu(tasks2), cpu(twoC), cpu(twoPread))),
            Comparison(
                name: "4 KiB random reads, warm, batches of 32 per core, both cores", unit: "ns/op", torus: batches2.wallPerOp,
                peers: [("2-thread pread pool", twoPread.wallPerOp), ("C liburing, 2 threads", twoC.wallPerOp)],
                note: String(format: "Torus %.0fk IOPS, CPU/read %@", 1e6 / batches2.wallPerOp, cpu(batches2))),
        ]
    }
}

/// A job counter the tasks of one core share (they all run on that core's thread).
final class CounterBox: @unchecked Sendable {
    private var next = 0
    func take() -> Int {
        defer { next += 1 }
        return next
    }
}
