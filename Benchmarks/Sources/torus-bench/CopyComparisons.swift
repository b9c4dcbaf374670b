import Foundation
import Torus

/// torus-cp against cp (GNU coreutils) on the same workloads, warm and cold page cache, every
/// copy verified by content. Run with `--only cp`.
struct CopyComparisons {
    let directory: String
    let repetitions: Int
    let scale: Int
    let torusCopy: String
    /// The C reference copiers (`Sources/copy-reference`): a 2-thread pool and io_uring at QD 32.
    var referenceCopy: String? = nil
    /// Each workload on a fresh journaled ext4 on a loop device made in `directory`
    /// (``LoopFileSystem``), instead of in `directory` itself.
    var freshFileSystems = false

    struct Workload {
        var name: String
        /// About how many bytes the source takes on disk (sizes the loop device).
        var bytes: Int
        /// Thousands of files: their copies are kept until the workload is done (see `run`).
        var manyFiles = false
        var make: (String) throws -> Void
    }

    var workloads: [Workload] {
        [
            Workload(name: "one \(1024 / scale) MiB file", bytes: (1024 / scale) << 20) { root in
                try writeFile(root + "/big.bin", mebibytes: 1024 / scale, seed: 1)
            },
            Workload(name: "\(200 / scale) files of 8 MiB", bytes: (1600 / scale) << 20) { root in
                for index in 0..<(200 / scale) { try writeFile(root + "/f\(index).bin", mebibytes: 8, seed: UInt64(index)) }
            },
            // 1-64 KiB each, 4 KiB blocks: about 35 KiB per file on disk.
            Workload(name: "\(20_000 / scale) files of 1-64 KiB in \(240 / scale) directories", bytes: (20_000 / scale) * (35 << 10), manyFiles: true)
            {
                root in
                var generator = SplitMix(seed: 7)
                let block = [UInt8]((0..<(64 << 10)).map { _ in UInt8(truncatingIfNeeded: generator.next()) })
                for directory in 0..<(240 / scale) {
                    let path = root + "/d\(directory)"
                    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
                    for file in 0..<(20_000 / 240) {
                        let size = Int(generator.next() % (63 << 10)) + (1 << 10)
                        _ = FileManager.default.createFile(atPath: path + "/f\(file)", contents: Data(block[0..<size]))
                    }
                }
            },
        ]
    }

    func run() throws -> [Comparison] {
        let canDropCaches = getuid() == 0
        var rows: [Comparison] = []
        for workload in workloads {
            // Room for the source, the copies kept (every copy of a many-file workload, one at a
            // time otherwise) and the file system's own metadata.
            let copiesKept = workload.manyFiles ? 2 * max(1, repetitions) * (canDropCaches ? 2 : 1) : 1
            let fresh = freshFileSystems ? try LoopFileSystem(in: directory, bytes: workload.bytes * (copiesKept + 2) + (1 << 30)) : nil
            defer { fresh?.remove() }
            let root = fresh?.mountPoint ?? directory
            let source = root + "/cp-bench-src"
            try? FileManager.default.removeItem(atPath: source)
            try FileManager.default.createDirectory(atPath: source, withIntermediateDirectories: true)
            try workload.make(source)
            let reference = try signature(source)
            let bytes = try treeBytes(source)
            defer { try? FileManager.default.removeItem(atPath: source) }
            // ext4 without a journal (this VM's root file system) will not reuse an inode freed
            // in the last 60 s, and finding a free one means stepping over every such inode: a
            // copy of 20,000 files made right after deleting the previous copy took 2-10 s
            // instead of 0.8 s, for cp and torus-cp alike, growing with each repetition. So the
            // copies of a many-file workload are all kept until it is done.
            var kept: [String] = []
            defer { for path in kept { try? FileManager.default.removeItem(atPath: path) } }
            for cold in canDropCaches ? [false, true] : [false] {
                // Interleave the tools and swap which goes first on every repetition: on this VM's
                // disk, a copy written right after deleting the previous one is alternately fast
                // and slow (block reuse), and a fixed order hands one tool all the slow slots.
                var cpRuns: [(Double, Double)] = []
                var torusRuns: [(Double, Double)] = []
                var poolRuns: [(Double, Double)] = []
                var ringRuns: [(Double, Double)] = []
                for repetition in 0..<repetitions {
                    let cpFirst = repetition % 2 == 0
                    func time(_ command: [String]) throws -> (Double, Double) {
                        let destination = root + "/cp-bench-dst-\(kept.count)"
                        let result = try timeOnce(command, source: source, to: destination, bytes: bytes, reference: reference, cold: cold)
                        if workload.manyFiles { kept.append(destination) } else { try FileManager.default.removeItem(atPath: destination) }
                        return result
                    }
                    if cpFirst { cpRuns.append(try time(["/bin/cp", "-r"])) }
                    torusRuns.append(try time([torusCopy, "-r", "--no-progress"]))
                    if let referenceCopy {
                        poolRuns.append(try time([referenceCopy, "pool", "2"]))
                        ringRuns.append(try time([referenceCopy, "uring", "32"]))
                    }
                    if !cpFirst { cpRuns.append(try time(["/bin/cp", "-r"])) }
                }
                /// Median wall and median CPU milliseconds of one tool's runs.
                func medians(_ runs: [(Double, Double)]) -> (Double, Double) { (median(runs.map(\.0)), median(runs.map(\.1))) }
                let cp = medians(cpRuns)
                let torus = medians(torusRuns)
                var peers = [("cp -r", cp.0)]
                var note = String(format: "CPU: torus-cp %.0f ms, cp %.0f ms", torus.1, cp.1)
                if !poolRuns.isEmpty {
                    let pool = medians(poolRuns)
                    let ring = medians(ringRuns)
                    peers += [("C: 2 threads of copy_file_range", pool.0), ("C: io_uring read/write, QD 32", ring.0)]
                    note += String(format: ", C pool %.0f ms, C io_uring %.0f ms", pool.1, ring.1)
                }
                rows.append(
                    Comparison(
                        name: "\(workload.name), \(cold ? "cold" : "warm") cache", unit: "ms", torus: torus.0,
                        peers: peers, note: note))
            }
        }
        return rows
    }

    /// Wall and CPU milliseconds of one copy of `source` (`bytes` of data) to `destination`
    /// with `command`, verified.
    func timeOnce(_ command: [String], source: String, to destination: String, bytes: Int, reference: [String: UInt64], cold: Bool) throws -> (
        Double, Double
    ) {
        try? FileManager.default.removeItem(atPath: destination)
        sync()
        if cold { try "3".write(toFile: "/proc/sys/vm/drop_caches", atomically: false, encoding: .utf8) }
        usleep(500_000)  // let the file system settle after the flush
        // This VM hands free memory back to its host (free page reporting), and the first
        // touch of such a page costs a host fault: a copy that allocated "returned" pages for
        // its page cache took 2-3x as long, with the time showing as system time in the
        // kernel's copy loops. Touching and freeing as much memory as the copy will need just
        // before it runs gives every tool the same, backed pages (what real hardware has).
        touchAndRelease(bytes: min(4 * bytes + (1 << 30), 8 << 30))
        let cpuBefore = childCPUMilliseconds()
        let start = ContinuousClock.now
        // posix_spawn + waitpid: Foundation's Process polls for exit in 50 ms steps.
        let status = spawnAndWait(command + [source, destination])
        let (seconds, attoseconds) = (ContinuousClock.now - start).components
        guard status == 0 else { throw CopyBenchError("\(command[0]) failed with status \(status)") }
        let wall = Double(seconds) * 1000 + Double(attoseconds) / 1e15
        let cpu = childCPUMilliseconds() - cpuBefore
        guard try signature(destination) == reference else { throw CopyBenchError("\(command[0]) produced a different tree") }
        return (wall, cpu)
    }
}

struct CopyBenchError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// Maps `bytes` of anonymous memory, writes every page, and unmaps it.
func touchAndRelease(bytes: Int) {
    guard let memory = mmap(nil, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), memory != MAP_FAILED else { return }
    let pages = memory.bindMemory(to: UInt8.self, capacity: bytes)
    var offset = 0
    while offset < bytes {
        pages[offset] = 1
        offset += 4096
    }
    munmap(memory, bytes)
}

/// Total size of the regular files under `root`.
func treeBytes(_ root: String) throws -> Int {
    var total = 0
    guard let walker = FileManager.default.enumerator(atPath: root) else { return 0 }
    while let relative = walker.nextObject() as? String {
        let attributes = try FileManager.default.attributesOfItem(atPath: root + "/" + relative)
        if attributes[.type] as? FileAttributeType == .typeRegular { total += (attributes[.size] as? Int) ?? 0 }
    }
    return total
}

/// Relative path -> FNV-1a of the contents, for every regular file under `root`.
func signature(_ root: String) throws -> [String: UInt64] {
    var result: [String: UInt64] = [:]
    guard let walker = FileManager.default.enumerator(atPath: root) else { return result }
    while let relative = walker.nextObject() as? String {
        let path = root + "/" + relative
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue else { continue }
        let handle = try FileHandle(forReadingFrom: URL(fileURLWithPath: path))
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        while let data = try handle.read(upToCount: 4 << 20), !data.isEmpty {
            data.withUnsafeBytes { bytes in
                // Every 8-byte word (FNV-1a over words: a byte-wise hash of gigabytes would take
                // longer than the copies).
                for word in bytes.bindMemory(to: UInt64.self) {
                    hash = (hash ^ word) &* 0x100_0000_01b3
                }
                for byte in bytes.suffix(bytes.count % 8) { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
            }
            hash ^= UInt64(data.count)
        }
        try handle.close()
        result[relative] = hash
    }
    return result
}

func childCPUMilliseconds() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_CHILDREN.rawValue, &usage)
    return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) * 1000 + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1000
}

func writeFile(_ path: String, mebibytes: Int, seed: UInt64) throws {
    var generator = SplitMix(seed: seed)
    let block = Data((0..<(1 << 20)).map { _ in UInt8(truncatingIfNeeded: generator.next()) })
    _ = FileManager.default.createFile(atPath: path, contents: nil)
    let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
    for index in 0..<mebibytes {
        var chunk = block
        chunk[0] = UInt8(truncatingIfNeeded: index)
        try handle.write(contentsOf: chunk)
    }
    try handle.close()
}

struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Runs a program and waits for it; returns its exit status (-1 if it could not start).
func spawnAndWait(_ arguments: [String]) -> Int32 {
    var pid: pid_t = 0
    let argv = arguments.map { strdup($0) } + [nil]
    defer { for pointer in argv { free(pointer) } }
    guard posix_spawn(&pid, arguments[0], nil, nil, argv, environ) == 0 else { return -1 }
    var status: Int32 = 0
    waitpid(pid, &status, 0)
    return (status >> 8) & 0xff
}
