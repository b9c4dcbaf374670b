import Foundation
import Synchronization
import Torus

/// Reads through the ring against Foundation's FileHandle and a 2-thread `pread` pool (the
/// design of epoll runtimes, SwiftNIO's NIOFileSystem included).
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
        return [try sequential(path), try random(path), try creation()]
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

    /// 1 MiB chunks, 8 in flight on one core.
    func sequential(_ path: String) throws -> Comparison {
        let chunk = 1 << 20
        let chunks = fileSize / chunk
        let torus = try measure(operations: chunks, repetitions: repetitions) {
            let total = try runtime.block {
                let file = try await File.open(FilePath(path))
                let next = CounterBox()
                let total = try await withThrowingTaskGroup(of: Int.self) { group in
                    for _ in 0..<8 {
                        group.addTask {
                            let buffer = IOBuffer(capacity: chunk)
                            var bytes = 0
                            while true {
                                let index = next.take()
                                if index >= chunks { return bytes }
                                buffer.clear()
                                bytes += try await file.read(into: buffer, at: UInt64(index * chunk))
                            }
                        }
                    }
                    return try await group.reduce(0, +)
                }
                try await file.close()
                return total
            }
            precondition(total == fileSize)
        }
        let handle = try measure(operations: chunks, repetitions: repetitions) {
            let reader = try FileHandle(forReadingFrom: URL(fileURLWithPath: path))
            var total = 0
            while let data = try reader.read(upToCount: chunk), !data.isEmpty { total += data.count }
            try reader.close()
            precondition(total == fileSize)
        }
        let pool = measure(operations: chunks, repetitions: repetitions) {
            let total = preadPool(path: path, threads: 2, jobs: chunks, size: chunk) { $0 * chunk }
            precondition(total == fileSize)
        }
        let oneThread = measure(operations: chunks, repetitions: repetitions) {
            let total = preadPool(path: path, threads: 1, jobs: chunks, size: chunk) { $0 * chunk }
            precondition(total == fileSize)
        }
        let gib = Double(fileSize) / Double(1 << 30)
        return Comparison(
            name: "sequential read, \(String(format: "%.2g", gib)) GiB warm, 1 MiB chunks, QD 8", unit: "ns/op", torus: torus.wallPerOp,
            peers: [
                ("Foundation FileHandle.read", handle.wallPerOp), ("2-thread pread pool (2 CPUs)", pool.wallPerOp),
                ("1-thread pread (1 CPU)", oneThread.wallPerOp),
            ],
            note: String(format: "Torus %.1f GiB/s on one core", Double(chunk) / torus.wallPerOp))
    }

    /// 4 KiB reads at random offsets, 32 in flight on one core.
    func random(_ path: String) throws -> Comparison {
        let reads = 200_000 / scale
        let pages = fileSize / 4096
        let torus = try measure(operations: reads, repetitions: repetitions) {
            _ = try runtime.block {
                let file = try await File.open(FilePath(path))
                let next = CounterBox()
                let total = try await withThrowingTaskGroup(of: Int.self) { group in
                    for _ in 0..<32 {
                        group.addTask {
                            let buffer = IOBuffer(capacity: 4096)
                            var bytes = 0
                            while true {
                                let index = next.take()
                                if index >= reads { return bytes }
                                buffer.clear()
                                bytes += try await file.read(into: buffer, at: UInt64(scatter(index, pages) * 4096))
                            }
                        }
                    }
                    return try await group.reduce(0, +)
                }
                try await file.close()
                return total
            }
        }
        let pool = measure(operations: reads, repetitions: repetitions) {
            _ = preadPool(path: path, threads: 2, jobs: reads, size: 4096) { scatter($0, pages) * 4096 }
        }
        let oneThread = measure(operations: reads, repetitions: repetitions) {
            _ = preadPool(path: path, threads: 1, jobs: reads, size: 4096) { scatter($0, pages) * 4096 }
        }
        return Comparison(
            name: "4 KiB random reads, warm, QD 32, one core", unit: "ns/op", torus: torus.wallPerOp,
            peers: [("2-thread pread pool (2 CPUs)", pool.wallPerOp), ("1-thread pread (1 CPU)", oneThread.wallPerOp)],
            note: String(format: "Torus %.0fk IOPS, %.0f ns CPU/read; pool %.0f ns CPU/read", 1e6 / torus.wallPerOp, torus.cpuPerOp, pool.cpuPerOp))
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

/// A pseudo-random but repeatable page for job `index`.
func scatter(_ index: Int, _ pages: Int) -> Int {
    Int((UInt64(index) &* 0x9E37_79B9_7F4A_7C15) >> 20) % pages
}

/// `threads` plain threads doing `pread` of `size` bytes at `offset(job)` for every job.
func preadPool(path: String, threads: Int, jobs: Int, size: Int, offset: @escaping @Sendable (Int) -> Int) -> Int {
    final class Shared: Sendable {
        let next = Atomic<Int>(0)
        let total = Atomic<Int>(0)
    }
    let shared = Shared()
    let fd = open(path, O_RDONLY)
    let group = DispatchGroup()
    for _ in 0..<threads {
        group.enter()
        Thread {
            let buffer = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 4096)
            var bytes = 0
            while true {
                let job = shared.next.wrappingAdd(1, ordering: .relaxed).oldValue
                if job >= jobs { break }
                bytes += pread(fd, buffer, size, off_t(offset(job)))
            }
            buffer.deallocate()
            shared.total.wrappingAdd(bytes, ordering: .relaxed)
            group.leave()
        }.start()
    }
    group.wait()
    close(fd)
    return shared.total.load(ordering: .relaxed)
}
