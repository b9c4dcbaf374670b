import Foundation
import Testing
import TorusTestSupport

@testable import Torus

extension RuntimeSuite {
    @Suite("Files")
    struct Files {
        @Test("write, read back, metadata, sync, close")
        func roundTrip() async throws {
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            let directory = try makeTemporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let path = FilePath(directory + "/data.bin")
            let payload = pseudoRandomBytes(300_000, seed: 7)
            let (readBack, metadata, sequential) = try await runtime.handle.spawn { () -> ([UInt8], FileMetadata, [UInt8]) in
                let file = try await File.create(path, permissions: [.ownerReadWrite])
                try await file.writeAll(payload)
                try await file.sync()
                try await file.syncData()
                let metadata = try await file.metadata()
                try await file.close()
                try await file.close()  // idempotent
                let readBack = try await FileSystem.readFile(at: path)
                let reader = try await File.open(path)
                let head = try await reader.readExactly(10)
                let rest = try await reader.readToEnd()
                return (readBack, metadata, head + rest)
            }.value
            #expect(readBack == payload)
            #expect(sequential == payload)
            // Just written and read: cachestat (Linux 6.5+) sees it all in the page cache.
            let cached = try await runtime.handle.spawn { () -> Double? in
                let file = try await File.open(path)
                defer { _ = file }
                return file.cachedFraction(of: 300_000)
            }.value
            if let cached { #expect(cached >= 0.9) }
            #expect(metadata.size == 300_000)
            #expect(metadata.kind == .regular)
            #expect(metadata.permissions == [.ownerReadWrite])
            #expect(metadata.modified.seconds > 1_700_000_000)
        }

        @Test("random-offset writes read back, including offsets past 4 GiB in a sparse file")
        func randomOffsets() async throws {
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            let directory = try makeTemporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let path = FilePath(directory + "/sparse.bin")
            let ok = try await runtime.handle.spawn { () -> Bool in
                let file = try await File.open(path, options: [.read, .write, .create])
                var expected = [UInt8](repeating: 0, count: 1 << 20)
                try await file.writeAll(IOBuffer(expected), at: 0)
                var seed: UInt64 = 42
                for round in 0..<200 {
                    seed = seed &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
                    let offset = Int(seed >> 44) % (expected.count - 4096)
                    let chunk = pseudoRandomBytes(Int(seed >> 20) % 4096 + 1, seed: UInt64(round))
                    try await file.writeAll(IOBuffer(chunk), at: UInt64(offset))
                    expected.replaceSubrange(offset..<(offset + chunk.count), with: chunk)
                }
                let buffer = IOBuffer(capacity: expected.count)
                while buffer.count < expected.count {
                    let n = try await file.read(into: buffer, at: UInt64(buffer.count))
                    if n == 0 { break }
                }
                // Past 32 bits: write 5 bytes at 4 GiB + 3 and read them back.
                let far: UInt64 = (1 << 32) + 3
                try await file.writeAll(IOBuffer(Array("hello".utf8)), at: far)
                let farBuffer = IOBuffer(capacity: 5)
                _ = try await file.read(into: farBuffer, at: far)
                let size = try await file.metadata().size
                try await file.close()
                return buffer.bytes.prefix(expected.count) == expected[...] && farBuffer.bytes == Array("hello".utf8) && size == far + 5
            }.value
            #expect(ok)
        }

        @Test("O_DIRECT with an aligned buffer")
        func directIO() async throws {
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            let directory = try makeTemporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let path = FilePath(directory + "/direct.bin")
            let outcome = try await runtime.handle.spawn { () -> String in
                let buffer = IOBuffer(capacity: 8192, alignment: 4096)
                buffer.append(pseudoRandomBytes(8192, seed: 3))
                let file: File
                do {
                    file = try await File.open(path, options: [.read, .write, .create, .direct])
                } catch let error as IOError where error.errno == .invalidArgument {
                    return "unsupported"  // tmpfs has no O_DIRECT
                }
                try await file.writeAll(buffer, at: 0)
                let back = IOBuffer(capacity: 8192, alignment: 4096)
                _ = try await file.read(into: back, at: 0)
                try await file.close()
                return back.bytes == buffer.bytes ? "ok" : "mismatch"
            }.value
            #expect(outcome == "ok" || outcome == "unsupported")
        }

        @Test("directory and name operations")
        func names() async throws {
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            let directory = try makeTemporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let root = FilePath(directory)
            let log = try await runtime.handle.spawn { () -> [String] in
                var log: [String] = []
                try await FileSystem.createDirectories(at: root.appending("a/b/c"))
                try await FileSystem.createDirectories(at: root.appending("a/b/c"))  // exists: fine
                log.append("\(try await FileSystem.metadata(at: root.appending("a/b")).kind)")
                try await FileSystem.writeFile(at: root.appending("a/file name é.txt"), contents: Array("x".utf8))
                try await FileSystem.createHardLink(at: root.appending("a/hard"), to: root.appending("a/file name é.txt"))
                log.append("links \(try await FileSystem.metadata(at: root.appending("a/hard")).linkCount)")
                try await FileSystem.createSymbolicLink(at: root.appending("a/soft"), to: FilePath("file name é.txt"))
                log.append("\(try await FileSystem.metadata(at: root.appending("a/soft"), followSymbolicLinks: false).kind)")
                log.append("\(try await FileSystem.destinationOfSymbolicLink(at: root.appending("a/soft")))")
                do {
                    try await FileSystem.rename(root.appending("a/hard"), to: root.appending("a/soft"), replacing: false)
                } catch let error as IOError {
                    log.append("noreplace \(error.errno == .fileExists)")
                }
                try await FileSystem.rename(root.appending("a/hard"), to: root.appending("a/moved"))
                let names = try await FileSystem.contentsOfDirectory(at: root.appending("a")).map(\.lossyName).sorted()
                log.append(names.joined(separator: ","))
                try await FileSystem.removeFile(at: root.appending("a/moved"))
                try await FileSystem.removeDirectory(at: root.appending("a/b/c"))
                log.append(
                    "exists \(try await FileSystem.exists(at: root.appending("a/b/c"))) \(try await FileSystem.exists(at: root.appending("a/b")))")
                return log
            }.value
            #expect(
                log == [
                    "directory", "links 2", "symbolicLink", "file name é.txt", "noreplace true",
                    "b,file name é.txt,moved,soft", "exists false true",
                ])
        }

        @Test("errors name the operation and the path")
        func errors() async throws {
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            let directory = try makeTemporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let descriptorsBefore = openFileAndSocketDescriptors()
            let messages = try await runtime.handle.spawn { () -> [String] in
                var messages: [String] = []
                func attempt(_ body: () async throws -> Void) async {
                    do {
                        try await body()
                        messages.append("no error")
                    } catch { messages.append("\(error)") }
                }
                await attempt { _ = try await File.open(FilePath(directory + "/missing.txt")) }
                await attempt { _ = try await File.open(FilePath(directory), options: [.write]) }
                await attempt { try await FileSystem.removeDirectory(at: FilePath(directory + "/missing")) }
                await attempt { try await FileSystem.createDirectory(at: FilePath(directory)) }
                let unwritable = getuid() == 0 ? "/sys/kernel/notes" : directory + "/readonly"
                if getuid() != 0 {
                    try await FileSystem.writeFile(at: FilePath(unwritable), contents: [1])
                    chmod(unwritable, 0)
                }
                await attempt { _ = try await File.open(FilePath(unwritable), options: [.write]) }
                return messages
            }.value
            #expect(messages[0] == "open \"\(directory)/missing.txt\": No such file or directory (ENOENT)")
            #expect(messages[1] == "open \"\(directory)\": Is a directory (EISDIR)")
            #expect(messages[2].hasPrefix("rmdir \"\(directory)/missing\": No such file or directory"))
            #expect(messages[3].hasSuffix("File exists (EEXIST)"))
            #expect(messages[4].hasSuffix("Permission denied (EACCES)"))
            #expect(openFileAndSocketDescriptors() == descriptorsBefore, "failed opens leak nothing")
        }

        @Test("a read blocked on a pipe is cancelled in the kernel; the buffer is released and nothing leaks")
        func cancelBlockedRead() async throws {
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            var ends: [Int32] = [0, 0]
            #expect(pipe(&ends) == 0)
            defer { close(ends[1]) }
            let reader = File(descriptor: ends[0], path: "pipe")
            let buffer = IOBuffer(capacity: 64)
            let task = runtime.handle.spawn { () -> Int in
                try await reader.read(into: IOBuffer(capacity: 64))
            }
            try await Task.sleep(for: .milliseconds(20))
            task.cancel()
            await #expect(throws: CancellationError.self) { try await task.value }
            // The pipe still works: the cancelled read consumed nothing.
            #expect(write(ends[1], "ab", 2) == 2)
            let n = try await runtime.handle.spawn { try await reader.read(into: IOBuffer(capacity: 64)) }.value
            #expect(n == 2)
            _ = buffer
            for core in runtime.cores {
                let inFlight = await core.run { core.driver.operations.inFlight }
                #expect(inFlight == 0)
            }
        }

        @Test("regular-file I/O in a cancelled task: refused before submission, completed once in flight")
        func cancelRegularFileIO() async throws {
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            let directory = try makeTemporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let path = FilePath(directory).appending("data")
            let contents = pseudoRandomBytes(1 << 20, seed: 3)
            let outcome = try await runtime.handle.spawn { () -> (Int, Bool) in
                try await FileSystem.writeFile(at: path, contents: contents)
                let file = try await File.open(path)
                // In flight when the cancellation lands: the read completes with its bytes
                // (the kernel cannot cancel it; the task is not told to pretend otherwise).
                let buffer = IOBuffer(capacity: 1 << 20)
                let reading = spawn { () -> Int in
                    var total = 0
                    while true {
                        buffer.clear()
                        let n = try await file.read(into: buffer, at: UInt64(total))
                        if n == 0 { return total }
                        total += n
                    }
                }
                await Task.yield()
                reading.cancel()
                let read = (try? await reading.value) ?? -1
                // Already cancelled: nothing is submitted, the call throws.
                let refused = try await spawn { () -> Bool in
                    withUnsafeCurrentTask { $0?.cancel() }
                    do {
                        _ = try await file.read(into: IOBuffer(capacity: 16), at: 0)
                        return false
                    } catch is CancellationError {
                        return true
                    }
                }.value
                try await file.close()
                return (read, refused)
            }.value
            // Either the loop finished every read before noticing, or it stopped at a refused read.
            #expect(outcome.0 == -1 || outcome.0 == contents.count)
            #expect(outcome.1)
            for core in runtime.cores {
                let inFlight = await core.run { core.driver.operations.inFlight }
                #expect(inFlight == 0)
            }
        }
    }
}
