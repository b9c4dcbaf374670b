import Foundation
import Glibc
import Testing
import TorusTestSupport

@testable import Torus

// Issue #16, item 5: descriptors as swift-system's `FileDescriptor`, and directory entry names
// as `FilePath.Component` (bytes kept).

/// The bytes of a component, as the kernel stores them.
private func rawBytes(_ component: FilePath.Component) -> [UInt8] {
    component.withPlatformString { Array(UnsafeBufferPointer(start: $0, count: strlen($0))).map { UInt8(bitPattern: $0) } }
}

extension RuntimeSuite {
    @Suite("swift-system vocabulary")
    struct SystemVocabularyTests {
        @Test("a FileDescriptor opened with swift-system is adopted; bytes written through the ring are read through the lent descriptor and back")
        func adoptFileDescriptor() async throws {
            let directory = try makeTemporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let path = FilePath(directory).appending("adopted")
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            let outcome = try await runtime.handle.spawn(on: .core(0)) { () -> [String] in
                let raw = try FileDescriptor.open(path, .readWrite, options: [.create, .truncate], permissions: [.ownerReadWrite])
                let file = try File(adopting: raw, path: path)
                var log = ["\(file.descriptor == raw)"]
                try await file.writeAll(IOBuffer(Array("ring ".utf8)), at: 0)
                // swift-system's own calls on the lent descriptor: a read of what the ring wrote,
                // and a write the ring then reads.
                let seen = try file.withDescriptor { fd in
                    var bytes = [UInt8](repeating: 0, count: 5)
                    let n = try bytes.withUnsafeMutableBytes { try fd.read(fromAbsoluteOffset: 0, into: $0) }
                    _ = try fd.writeAll(toAbsoluteOffset: 5, Array("system".utf8))
                    return String(decoding: bytes[..<n], as: UTF8.self)
                }
                log.append(seen)
                let buffer = IOBuffer(capacity: 64)
                _ = try await file.read(into: buffer, at: 0)
                log.append(String(decoding: buffer.bytes, as: UTF8.self))
                try await file.close()
                log.append("\(file.descriptor.rawValue) \(fcntl(raw.rawValue, F_GETFD) < 0 && errno == EBADF)")
                do { _ = try file.withDescriptor { $0 } } catch let error as IOError { log.append("\(error.errno == .badFileDescriptor)") }
                return log
            }.value
            #expect(outcome == ["true", "ring ", "ring system", "-1 true", "true"])
        }

        @Test("sockets and pipes expose their descriptors as FileDescriptor; withDescriptor lends them while open")
        func socketDescriptors() async throws {
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            let outcome = try await runtime.handle.spawn(on: .core(0)) { () -> [String] in
                let listener = try TCPListener.bind(.loopback(port: 0))
                let listening = try listener.withDescriptor { fd in
                    var value: Int32 = 0
                    var length = socklen_t(MemoryLayout<Int32>.size)
                    return getsockopt(fd.rawValue, SOL_SOCKET, SO_ACCEPTCONN, &value, &length) == 0 && value == 1
                }
                let (client, server) = try await connectedPair()
                let distinct = Set([client.descriptor.rawValue, server.descriptor.rawValue, listener.descriptor.rawValue]).count == 3
                // A FileDescriptor write on the client's number arrives through the ring.
                _ = try client.withDescriptor { try $0.writeAll(Array("hi".utf8)) }
                let heard = String(decoding: try await server.readExactly(2), as: UTF8.self)
                try await client.close()
                try await server.close()
                try await listener.close()
                let udp = try UDPSocket.bind(.loopback(port: 0))
                let udpOpen = udp.descriptor.rawValue >= 0
                try await udp.close()
                let pipe = try PipePair()
                _ = try pipe.writeEnd.writeAll(Array("pipe".utf8))
                var bytes = [UInt8](repeating: 0, count: 4)
                let n = try bytes.withUnsafeMutableBytes { try pipe.readEnd.read(into: $0) }
                return [
                    "\(listening) \(distinct)", heard,
                    "\(client.descriptor.rawValue) \(listener.descriptor.rawValue) \(udpOpen) \(udp.descriptor.rawValue)",
                    String(decoding: bytes[..<n], as: UTF8.self),
                ]
            }.value
            #expect(outcome == ["true true", "hi", "-1 -1 true -1", "pipe"])
        }

        @Test("directory listings keep names as bytes: a name that is not UTF-8 and a 255-byte name round-trip and open")
        func exactNames() async throws {
            let directory = try makeTemporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let slash = UInt8(ascii: "/")
            let invalid: [UInt8] = [0xff, 0xfe]
            let long = [UInt8](repeating: UInt8(ascii: "n"), count: 253) + [0xff, 0xfe]
            #expect(long.count == 255)
            createFile(Array(directory.utf8) + [slash] + invalid, Array("invalid".utf8))
            createFile(Array(directory.utf8) + [slash] + long, Array("long".utf8))
            let fd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
            defer { close(fd) }
            let directoryFD = FileDescriptor(rawValue: fd)
            let path = FilePath(directory)
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            let outcome = try await runtime.handle.spawn(on: .core(0)) { () -> [String] in
                var log: [String] = []
                let byPath = try await FileSystem.contentsOfDirectory(at: path)
                let byDescriptor = try await FileSystem.contentsOfDirectory(descriptor: directoryFD, path: path)
                for entries in [byPath, byDescriptor] {
                    let names = Set(entries.map { rawBytes($0.name) })
                    log.append("\(entries.count) \(names == [invalid, long]) \(entries.allSatisfy { $0.kind == .regular })")
                }
                for entry in byPath.sorted(by: { rawBytes($0.name).count < rawBytes($1.name).count }) {
                    // Opened by the listed component: by path, and relative to the directory.
                    let file = try await File.open(path.appending(entry.name))
                    let relative = try await File.open(FilePath(root: nil, [entry.name]), inDirectory: directoryFD, path: path.appending(entry.name))
                    let text = String(decoding: try await file.readToEnd(), as: UTF8.self)
                    let again = String(decoding: try await relative.readToEnd(), as: UTF8.self)
                    try await file.close()
                    try await relative.close()
                    // The String form is lossy: the invalid bytes became U+FFFD.
                    log.append(
                        "\(text) \(again) \(entry.lossyName.hasSuffix("\u{FFFD}\u{FFFD}")) \(entry.lossyName.utf8.elementsEqual(rawBytes(entry.name)))"
                    )
                }
                return log
            }.value
            #expect(outcome == ["2 true true", "2 true true", "invalid invalid true false", "long long true false"])
        }
    }
}
