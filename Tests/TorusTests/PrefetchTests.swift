import Foundation
import Testing
@testable import Torus

extension RuntimeSuite {
    @Suite("Prefetch")
    struct Prefetch {
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
                fsync(file.fileDescriptor)
                posix_fadvise(file.fileDescriptor, 0, 0, POSIX_FADV_DONTNEED)
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
