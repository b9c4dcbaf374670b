import Foundation
import Torus

/// Creating files the way torus-cp does (an O_EXCL temporary, 4 KiB written, closed, renamed
/// into place), 32 at once on one core: the operations io_uring hands to its worker threads,
/// made inline (`FileOperationRoute.inline`), on the ring, or each on a thread pool, which is
/// tokio::fs's design (every call a `spawn_blocking`) and SwiftNIO's NIOFileSystem's.
extension FileComparisons {
    func creation() throws -> Comparison {
        let files = 2_000 / scale
        let payload = [UInt8](repeating: 7, count: 4096)
        var round = 0
        // All rounds' files stay until the end: ext4 without a journal (this VM) steps over
        // every inode freed in the last 60 s to allocate a new one, so deleting a round's files
        // before the next would time that instead (see the torus-cp section).
        var folders: [String] = []
        defer { for folder in folders { try? FileManager.default.removeItem(atPath: folder) } }
        func run(_ createOne: @escaping @Sendable (FilePath, FilePath, [UInt8]) async throws -> Void) throws -> Sample {
            try measure(operations: files, repetitions: repetitions) {
                round += 1
                let folder = directory + "/torus-bench-create-\(round)"
                try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
                folders.append(folder)
                try runtime.block {
                    let next = CounterBox()
                    try await withThrowingTaskGroup(of: Void.self) { group in
                        for _ in 0..<32 {
                            group.addTask {
                                while true {
                                    let index = next.take()
                                    if index >= files { return }
                                    try await createOne(FilePath("\(folder)/.f\(index).tmp"), FilePath("\(folder)/f\(index)"), payload)
                                }
                            }
                        }
                        try await group.waitForAll()
                    }
                }
            }
        }
        let inline = try run { temporary, final, payload in
            let file = try await File.open(temporary, options: [.write, .exclusive], via: .inline)
            try await file.writeAll(IOBuffer(payload), at: 0, via: .inline)
            try await file.close(via: .inline)
            try await FileSystem.rename(temporary, to: final, via: .inline)
        }
        let ring = try run { temporary, final, payload in
            let file = try await File.open(temporary, options: [.write, .exclusive])
            try await file.writeAll(IOBuffer(payload), at: 0)
            try await file.close()
            try await FileSystem.rename(temporary, to: final)
        }
        let pool = try run { temporary, final, payload in
            let fd = try await spawnBlocking { () throws -> Int32 in
                let fd = open(temporary.string, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
                if fd < 0 { throw Errno(rawValue: errno) }
                return fd
            }
            try await spawnBlocking { if pwrite(fd, payload, payload.count, 0) != payload.count { throw Errno(rawValue: errno) } }
            _ = try await spawnBlocking { close(fd) }
            try await spawnBlocking { if rename(temporary.string, final.string) != 0 { throw Errno(rawValue: errno) } }
        }
        return Comparison(
            name: "create, write 4 KiB, close, rename into place; 32 files at once on one core", unit: "ns/file", torus: inline.wallPerOp,
            peers: [
                ("the same on the ring (kernel worker hand-offs)", ring.wallPerOp),
                ("each call on a thread pool (tokio::fs, NIOFileSystem)", pool.wallPerOp),
            ],
            note: String(
                format: "CPU per file: inline %.1f us, ring %.1f us, thread pool %.1f us", inline.cpuPerOp / 1000, ring.cpuPerOp / 1000,
                pool.cpuPerOp / 1000))
    }
}
