import Foundation
import Testing
import TorusTestSupport

@testable import Torus

extension RuntimeSuite {
    @Suite("File operations routed inline")
    struct InlineRoute {
        @Test("create, write, metadata, copy, rename, close and mkdir as plain system calls give what the ring gives")
        func sameResultsAsTheRing() async throws {
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            let directory = try makeTemporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let base = FilePath(directory)
            let payload = pseudoRandomBytes(200_000, seed: 11)
            let descriptorsBefore = openFileAndSocketDescriptors()
            let (viaRing, viaInline, copied, listed) = try await runtime.handle.spawn { () -> (FileMetadata, FileMetadata, [UInt8], [String]) in
                try await FileSystem.createDirectory(at: base.appending("sub"), via: .inline)
                let temporary = base.appending("sub/.data.tmp")
                let file = try await File.open(temporary, options: [.write, .exclusive], permissions: [.ownerReadWrite], via: .inline)
                try await file.writeAll(IOBuffer(payload), at: 0, via: .inline)
                let viaInline = try await file.metadata(via: .inline)
                let viaRing = try await file.metadata()
                try await file.close(via: .inline)
                try await file.close(via: .inline)  // idempotent
                try await FileSystem.rename(temporary, to: base.appending("sub/data"), replacing: false, via: .inline)
                // copy_file_range on the calling thread, into a second file.
                let input = try await File.open(base.appending("sub/data"), via: .inline)
                let output = try await File.open(base.appending("sub/copy"), options: [.write, .create], via: .inline)
                var done = 0
                while done < payload.count {
                    let n = try await input.copyRange(to: output, from: UInt64(done), to: UInt64(done), length: payload.count - done, via: .inline)
                    if n == 0 { break }
                    done += n
                }
                try await input.close(via: .inline)
                try await output.close()
                let copied = try await FileSystem.readFile(at: base.appending("sub/copy"))
                let listed = try await FileSystem.contentsOfDirectory(at: base.appending("sub")).map(\.lossyName).sorted()
                return (viaRing, viaInline, copied, listed)
            }.value
            #expect(viaInline == viaRing)
            #expect(viaInline.size == UInt64(payload.count))
            #expect(viaInline.permissions == [.ownerReadWrite])
            #expect(copied == payload)
            #expect(listed == ["copy", "data"], "the temporary name is gone after the rename")
            #expect(try Data(contentsOf: URL(fileURLWithPath: directory + "/sub/data")) == Data(payload))
            #expect(openFileAndSocketDescriptors() == descriptorsBefore, "every descriptor was closed")
        }

        @Test("inline errors name the operation and the path; a cancelled task starts nothing")
        func errorsAndCancellation() async throws {
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            let directory = try makeTemporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let base = FilePath(directory)
            let descriptorsBefore = openFileAndSocketDescriptors()
            let (messages, cancelled) = try await runtime.handle.spawn { () -> ([String], [Bool]) in
                var messages: [String] = []
                func attempt(_ body: () async throws -> Void) async {
                    do {
                        try await body()
                        messages.append("no error")
                    } catch { messages.append("\(error)") }
                }
                await attempt { _ = try await File.open(base.appending("missing"), via: .inline) }
                await attempt { try await FileSystem.createDirectory(at: base, via: .inline) }
                try await FileSystem.writeFile(at: base.appending("a"), contents: [1])
                try await FileSystem.writeFile(at: base.appending("b"), contents: [2])
                await attempt { try await FileSystem.rename(base.appending("a"), to: base.appending("b"), replacing: false, via: .inline) }
                await attempt { _ = try await FileSystem.metadata(at: base.appending("missing"), via: .inline) }
                let reader = try await File.open(base.appending("a"))
                await attempt { try await reader.writeAll(IOBuffer([1, 2, 3]), at: 0, via: .inline) }
                try await reader.close()
                // Already cancelled: an inline operation is not started (as the ring refuses).
                let cancelled = try await spawn { () -> [Bool] in
                    withUnsafeCurrentTask { $0?.cancel() }
                    var results: [Bool] = []
                    do {
                        _ = try await File.open(base.appending("c"), options: [.write, .create], via: .inline)
                        results.append(false)
                    } catch is CancellationError { results.append(true) }
                    do {
                        try await FileSystem.rename(base.appending("a"), to: base.appending("d"), via: .inline)
                        results.append(false)
                    } catch is CancellationError { results.append(true) }
                    return results
                }.value
                return (messages, cancelled)
            }.value
            #expect(messages[0] == "open \"\(directory)/missing\": No such file or directory (ENOENT)")
            #expect(messages[1] == "mkdir \"\(directory)\": File exists (EEXIST)")
            #expect(messages[2] == "rename \"\(directory)/a\": File exists (EEXIST)")
            #expect(messages[3] == "statx \"\(directory)/missing\": No such file or directory (ENOENT)")
            #expect(messages[4] == "write \"\(directory)/a\": Bad file descriptor (EBADF)")
            #expect(cancelled == [true, true])
            #expect(!FileManager.default.fileExists(atPath: directory + "/c"))
            #expect(!FileManager.default.fileExists(atPath: directory + "/d"))
            #expect(FileManager.default.fileExists(atPath: directory + "/a"))
            #expect(openFileAndSocketDescriptors() == descriptorsBefore)
        }
    }
}
