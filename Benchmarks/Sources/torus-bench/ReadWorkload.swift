import CReadReference
import Foundation
import Synchronization
import Torus

/// `jobs` reads of `size` bytes from the file at `path`, `depth` in flight per core or thread:
/// job j reads block j (`sequential`) or a pseudo-random block. The same jobs for every reader,
/// each of which checks that every byte asked for arrived.
struct ReadWorkload: Sendable {
    let path: String
    let size: Int
    let jobs: Int
    let depth: Int
    let sequential: Bool
    /// Whole blocks of `size` in the file.
    let blocks: Int

    init(path: String, size: Int, jobs: Int, depth: Int, sequential: Bool) {
        var status = stat()
        precondition(stat(path, &status) == 0, "stat \(path)")
        self.path = path
        self.size = size
        self.jobs = jobs
        self.depth = depth
        self.sequential = sequential
        self.blocks = Int(status.st_size) / size
    }

    var expectedBytes: Int { jobs * size }

    func offset(ofJob job: Int) -> Int { (sequential ? job % blocks : scatter(job, blocks)) * size }

    /// Torus on `cores` cores, each with its own `File`: `depth` tasks each awaiting one read
    /// at a time, or (`batched`) one task reading `depth` blocks per `File.read(_:)`.
    func torus(on runtime: Runtime, cores: Int, batched: Bool = false) throws {
        let workload = self
        let total = try runtime.block {
            let next = JobCounter()
            return try await withThrowingCoreTaskGroup(of: Int.self) { group in
                for core in 0..<cores {
                    group.spawn(on: .core(core)) {
                        let file = try await File.open(FilePath(workload.path))
                        let bytes =
                            batched ? try await workload.readBatches(file, next: next) : try await workload.readFromTasks(file, next: next)
                        try await file.close()
                        return bytes
                    }
                }
                var total = 0
                while let bytes = try await group.next() { total += bytes }
                return total
            }
        }
        precondition(total == expectedBytes, "Torus read \(total) of \(expectedBytes) bytes")
    }

    /// `depth` tasks on this core, each awaiting one read at a time.
    private func readFromTasks(_ file: File, next: JobCounter) async throws -> Int {
        let workload = self
        return try await withThrowingTaskGroup(of: Int.self) { group in
            for _ in 0..<depth {
                group.addTask {
                    let buffer = IOBuffer(capacity: workload.size, alignment: 4096)
                    var bytes = 0
                    while true {
                        let job = next.take(1)
                        if job >= workload.jobs { return bytes }
                        buffer.clear()
                        bytes += try await file.read(into: buffer, at: UInt64(workload.offset(ofJob: job)))
                    }
                }
            }
            return try await group.reduce(0, +)
        }
    }

    /// One task reading `depth` blocks per batch.
    private func readBatches(_ file: File, next: JobCounter) async throws -> Int {
        let buffers = (0..<depth).map { _ in IOBuffer(capacity: size, alignment: 4096) }
        var requests: [FileReadRequest] = []
        requests.reserveCapacity(depth)
        var bytes = 0
        while true {
            let first = next.take(depth)
            if first >= jobs { return bytes }
            requests.removeAll(keepingCapacity: true)
            for (slot, job) in (first..<min(first + depth, jobs)).enumerated() {
                buffers[slot].clear()
                requests.append(FileReadRequest(into: buffers[slot], at: UInt64(offset(ofJob: job))))
            }
            for count in try await file.read(requests) { bytes += count }
        }
    }

    /// `threads` plain threads doing `pread` (the 1-thread reader and the 2-thread pool).
    func pread(threads: Int) {
        let workload = self
        let total = preadPool(path: path, threads: threads, jobs: jobs, size: size) { workload.offset(ofJob: $0) }
        precondition(total == expectedBytes, "pread read \(total) of \(expectedBytes) bytes")
    }

    /// The C liburing reader: `threads` threads, one ring each.
    func c(threads: Int, fixedFile: Bool = false, fixedBuffers: Bool = false) throws {
        let options = Int32((fixedFile ? C_READ_FIXED_FILE : 0) | (fixedBuffers ? C_READ_FIXED_BUFFERS : 0))
        let total = uring_read_reference(path, Int32(threads), Int32(size), Int32(depth), jobs, sequential ? 1 : 0, options)
        precondition(total == expectedBytes, "C liburing read \(total) of \(expectedBytes) bytes")
    }
}

/// Hands out job numbers to every core and thread of one run.
final class JobCounter: Sendable {
    private let next = Atomic<Int>(0)

    /// The first of `count` consecutive jobs.
    func take(_ count: Int) -> Int { next.wrappingAdd(count, ordering: .relaxed).oldValue }
}

/// A pseudo-random but repeatable block for job `index`.
func scatter(_ index: Int, _ blocks: Int) -> Int {
    Int((UInt64(index) &* 0x9E37_79B9_7F4A_7C15) >> 20) % blocks
}

/// `threads` plain threads doing `pread` of `size` bytes at `offset(job)` for every job.
func preadPool(path: String, threads: Int, jobs: Int, size: Int, offset: @escaping @Sendable (Int) -> Int) -> Int {
    final class Shared: Sendable {
        let next = Atomic<Int>(0)
        let total = Atomic<Int>(0)
    }
    let shared = Shared()
    let fd = open(path, O_RDONLY)
    precondition(fd >= 0, "open \(path)")
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
