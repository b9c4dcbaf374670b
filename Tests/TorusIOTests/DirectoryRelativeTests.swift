import Foundation
import Testing
import TorusTestSupport

@testable import Torus

extension RuntimeSuite.Files {
    @Test("directory-relative operations keep names as bytes: listing, metadata, link targets, opening without following")
    func directoryRelative() async throws {
        let runtime = try makeRuntime()
        defer { runtime.shutdown() }
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let slash = UInt8(ascii: "/")
        let invalid: [UInt8] = [0x61, 0xff]
        createFile(Array(directory.utf8) + [slash] + invalid, Array("bytes".utf8))
        createFile(Array((directory + "/a\u{FFFD}").utf8), Array("twin".utf8))
        #expect(withCString(invalid) { target in withCString(Array((directory + "/link").utf8)) { symlink(target, $0) } } == 0)
        let fd = open(directory, O_RDONLY | O_DIRECTORY)
        defer { close(fd) }
        let directoryFD = FileDescriptor(rawValue: fd)
        let path = FilePath(directory)
        let outcome = try await runtime.handle.spawn { () -> [String] in
            var log: [String] = []
            let entries = try await FileSystem.contentsOfDirectory(descriptor: directoryFD, path: path)
            let names = entries.map {
                $0.name.withPlatformString { Array(UnsafeBufferPointer(start: $0, count: strlen($0))).map { UInt8(bitPattern: $0) } }
            }
            log.append("\(entries.count) \(names.contains(invalid)) \(names.contains(Array("a\u{FFFD}".utf8)))")
            // Listed twice from one descriptor: the same entries.
            log.append("\(try await FileSystem.contentsOfDirectory(descriptor: directoryFD, path: path).count)")
            let name = try #require(entries.first { $0.name.withPlatformString { strlen($0) } == 2 && $0.kind == .regular }).name
            let file = FilePath(root: nil, [name])
            log.append("\(try FileSystem.metadata(of: file, inDirectory: directoryFD, path: path.appending(name)).size)")
            let target = try FileSystem.destinationOfSymbolicLink(FilePath("link"), inDirectory: directoryFD, path: path.appending("link"))
            log.append("\(target.withPlatformString { strlen($0) }) \(target == FilePath(root: nil, [name]))")
            do {
                _ = try await File.open(FilePath("link"), inDirectory: directoryFD, path: path.appending("link"), options: [.read, .noFollow])
                log.append("followed")
            } catch let error as IOError {
                log.append("\(error.errno == .tooManySymbolicLinkLevels)")
            }
            let opened = try await File.open(FilePath("link"), inDirectory: directoryFD, path: path.appending("link"))
            log.append("\(try await opened.metadata().size)")
            try await opened.close()
            return log
        }.value
        #expect(outcome == ["3 true true", "3", "5", "2 true", "true", "5"])
    }
}
