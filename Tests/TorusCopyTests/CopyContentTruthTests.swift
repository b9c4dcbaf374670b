import Foundation
import Testing
import TorusTestSupport

/// Runs torus-cp on `source` in small chunks one at a time through buffers (slow enough to change
/// the source midway), runs `change` once the copy is under way, and returns the exit status and
/// stderr.
func copySlowly(_ source: String, to destination: String, whileRunning change: () -> Void) throws -> (Int32, String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: builtExecutable("torus-cp"))
    process.arguments = ["--method", "read-write", "--chunk-size", "4K", "--queue-depth", "1", "--no-progress", source, destination]
    let errors = Pipe()
    process.standardError = errors
    try process.run()
    waitForTemporaryFile(in: String(destination[..<destination.lastIndex(of: "/")!]))
    change()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self))
}

extension RuntimeSuite {
    /// A copy holds exactly the bytes reading the source found, whatever `st_size` said.
    @Suite("torus-cp truthful content")
    struct CopyContentTruth {
        @Test("procfs and sysfs files are read to their end: not empty, not padded with NULs")
        func pseudoFiles() throws {
            let root = try makeTemporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: root) }
            for (index, path) in ["/proc/version", "/proc/cpuinfo", "/sys/devices/system/cpu/online"].enumerated()
            where FileManager.default.fileExists(atPath: path) {
                let copy = root + "/copy\(index)"
                let outcome = try torusCopy([path, copy])
                #expect(outcome.status == 0, "\(path): \(outcome.stderr)")
                let copied = readAll(Array(copy.utf8))
                #expect(!copied.isEmpty, "\(path) copied as an empty file")
                #expect(!copied.contains(0), "\(path) copied with NUL padding")
                if path != "/proc/cpuinfo" {  // cpuinfo's MHz lines change from read to read
                    #expect(copied == readAll(Array(path.utf8)), "\(path)")
                }
            }
        }

        @Test("a source truncated during the copy: the copy holds the bytes read, no zero tail; a warning names it; exit 1")
        func shrinkingSource() throws {
            let root = try makeTemporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: root) }
            let source = root + "/shrinking"
            let original = pseudoRandomBytes(8 << 20, seed: 41)
            createFile(Array(source.utf8), original)
            let (status, stderr) = try copySlowly(source, to: root + "/copy") { #expect(truncate(source, 256 << 10) == 0) }
            let copy = readAll(Array((root + "/copy").utf8))
            try #require(copy.count < original.count, "the copy finished before the truncation: make it longer")
            #expect(copy.count >= 256 << 10)
            #expect(copy[...] == original.prefix(copy.count), "the copy is not the bytes read (a zero tail?)")
            #expect(status == 1)
            #expect(stderr.contains("warning: '\(source)' changed size while it was copied"), "\(stderr)")
        }

        @Test("a source that grows during the copy is copied to its end, with the warning")
        func growingSource() throws {
            let root = try makeTemporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: root) }
            let source = root + "/growing"
            createFile(Array(source.utf8), [UInt8](repeating: 0xa5, count: 64 << 20))
            let (status, stderr) = try copySlowly(source, to: root + "/copy") {
                let appender = open(source, O_WRONLY | O_APPEND)
                let tail = pseudoRandomBytes(1 << 20, seed: 43)
                #expect(tail.withUnsafeBytes { write(appender, $0.baseAddress, $0.count) } == tail.count)
                close(appender)
            }
            let copy = readAll(Array((root + "/copy").utf8))
            if status == 0 {
                // The copy was complete before the append landed (a loaded machine): it must then
                // be the file as it was, exactly.
                #expect(copy == [UInt8](repeating: 0xa5, count: 64 << 20))
                return
            }
            #expect(status == 1)
            #expect(stderr.contains("warning: '\(source)' changed size while it was copied"), "\(stderr)")
            #expect(copy == readAll(Array(source.utf8)))
        }
    }
}
