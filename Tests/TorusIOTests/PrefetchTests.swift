import Foundation
import Testing
import TorusTestSupport

@testable import Torus

extension RuntimeSuite {
    @Suite("Prefetch and allocate")
    struct Prefetch {
        @Test("allocate reserves the space and extends the file, on the ring and inline; errors name fallocate")
        func allocate() async throws {
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            let directory = try makeTemporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let base = FilePath(directory)
            let (ring, inline, closedError) = try await runtime.handle.spawn { () -> (FileMetadata, FileMetadata, String) in
                let first = try await File.open(base.appending("ring"), options: [.write, .create])
                try await first.allocate(length: 3 << 20)
                let ring = try await first.metadata()
                try await first.close()
                let second = try await File.open(base.appending("inline"), options: [.write, .create])
                try await second.allocate(length: 5 << 20, via: .inline)
                let inline = try await second.metadata(via: .inline)
                try await second.close()
                var message = ""
                do { try await second.allocate(length: 1, via: .inline) } catch { message = "\(error)" }
                return (ring, inline, message)
            }.value
            #expect(ring.size == 3 << 20)
            #expect(ring.allocatedSize >= 3 << 20, "the blocks are reserved, not a hole")
            #expect(inline.size == 5 << 20)
            #expect(inline.allocatedSize >= 5 << 20)
            #expect(closedError == "fallocate \"\(directory)/inline\": Bad file descriptor (EBADF)")
            // Allocated but never written: reads back as zeros.
            let bytes = try Data(contentsOf: URL(fileURLWithPath: directory + "/inline"))
            #expect(bytes.count == 5 << 20 && bytes.allSatisfy { $0 == 0 })
        }

        @Test("prefetch brings an evicted file back into the page cache; errors name fadvise and the path")
        func prefetchEvictedFile() async throws {
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            let directory = try makeTemporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let path = FilePath(directory + "/data.bin")
            let size = 16 << 20
            try Data(repeating: 0x5a, count: size).write(to: URL(fileURLWithPath: path.string))
            let (evicted, prefetched, closedError) = try await runtime.handle.spawn { () -> (Double?, Double?, String) in
                let file = try await File.open(path)
                // Written pages must reach the disk before the kernel will drop them.
                fsync(file.descriptor.rawValue)
                posix_fadvise(file.descriptor.rawValue, 0, 0, POSIX_FADV_DONTNEED)
                let evicted = file.cachedFraction(of: UInt64(size))
                try await file.prefetch(offset: 0, length: UInt64(size))
                // The reads were issued; give the device a moment to finish them.
                var prefetched = file.cachedFraction(of: UInt64(size))
                for _ in 0..<200 where (prefetched ?? 1) < 1 {
                    try await Torus.sleep(for: .milliseconds(10))
                    prefetched = file.cachedFraction(of: UInt64(size))
                }
                try await file.close()
                var message = ""
                do { try await file.prefetch(offset: 0, length: 1) } catch { message = "\(error)" }
                return (evicted, prefetched, message)
            }.value
            // cachestat needs Linux 6.5; without it there is nothing to observe.
            if let evicted, let prefetched {
                #expect(evicted < 0.5, "DONTNEED evicted the file")
                #expect(prefetched == 1, "prefetch read it all back")
            }
            #expect(closedError == "fadvise \"\(path)\": Bad file descriptor (EBADF)")
        }
    }
}
