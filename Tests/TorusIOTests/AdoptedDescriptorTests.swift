import Foundation
import Glibc
import Testing
import TorusTestSupport

@testable import Torus

extension RuntimeSuite {
    @Suite("Adopted descriptors")
    struct AdoptedDescriptorTests {
        @Test("a file opened elsewhere is read through the ring and closed by Torus; a closed number is refused")
        func adoptFile() async throws {
            let directory = try makeTemporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let path = directory + "/f"
            try Data("adopted bytes".utf8).write(to: URL(fileURLWithPath: path))
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            let (text, closedAfter, refused, flags) = try await runtime.handle.spawn(on: .core(0)) { () -> (String, Bool, String, Int32) in
                let raw = try FileDescriptor.open(FilePath(path), .readOnly)
                let file = try File(adopting: raw, path: FilePath(path))
                let flags = try file.withDescriptor { fcntl($0.rawValue, F_GETFL) }
                let text = String(decoding: try await file.readToEnd(), as: UTF8.self)
                try await file.close()
                let closedAfter = fcntl(raw.rawValue, F_GETFD) < 0 && errno == EBADF
                var refused = "adopted"
                do { _ = try File(adopting: raw, path: FilePath(path)) } catch { refused = "\(error)" }
                return (text, closedAfter, refused, flags)
            }.value
            #expect(text == "adopted bytes")
            #expect(flags & O_ACCMODE == O_RDONLY)
            #expect(closedAfter, "closing the File closes the adopted descriptor")
            #expect(refused.hasPrefix("adopt \"\(path)\"") && refused.contains("EBADF"), "\(refused)")
        }

        @Test(
            "a listening socket made elsewhere (as systemd passes one) serves connections; a stream socket is adopted as a stream; wrong kinds are refused"
        )
        func adoptSockets() async throws {
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            let (echoed, errors) = try await runtime.handle.spawn(on: .core(0)) { () -> (String, [String]) in
                // What systemd does before exec: socket, bind, listen.
                let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
                var address = sockaddr_in()
                address.sin_family = sa_family_t(AF_INET)
                address.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
                let bound = withUnsafePointer(to: &address) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
                }
                #expect(bound == 0 && listen(fd, 16) == 0)
                var errors: [String] = []
                // A listening socket is not a stream.
                do { _ = try TCPStream(adopting: FileDescriptor(rawValue: fd)) } catch { errors.append("\(error)") }
                let listener = try TCPListener(adopting: FileDescriptor(rawValue: fd))
                let port = try listener.localAddress.port!
                let serving = spawn {
                    let connection = try await listener.accept()
                    try await connection.writeAll(try await connection.readExactly(5))
                    try await connection.close()
                }
                // A client connected with plain calls, then adopted as a stream.
                let client = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
                var target = sockaddr_in()
                target.sin_family = sa_family_t(AF_INET)
                target.sin_port = port.bigEndian
                target.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
                let connected = withUnsafePointer(to: &target) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(client, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
                }
                #expect(connected == 0)
                // A connected stream is not a listener.
                do { _ = try TCPListener(adopting: FileDescriptor(rawValue: client)) } catch { errors.append("\(error)") }
                let stream = try TCPStream(adopting: FileDescriptor(rawValue: client))
                try await stream.writeAll(Array("hello".utf8))
                let echoed = String(decoding: try await stream.readExactly(5), as: UTF8.self)
                try await serving.value
                try await stream.close()
                try await listener.close()
                // A pipe is not a socket.
                let (readEnd, writeEnd) = try FileDescriptor.pipe()
                do { _ = try TCPStream(adopting: readEnd) } catch { errors.append("\(error)") }
                try readEnd.close()
                try writeEnd.close()
                return (echoed, errors)
            }.value
            #expect(echoed == "hello")
            #expect(errors.count == 3)
            #expect(errors.first?.contains("EISCONN") == true, "\(errors)")
            #expect(errors.dropFirst().first?.contains("EINVAL") == true, "\(errors)")
            #expect(errors.last?.contains("ENOTSOCK") == true, "\(errors)")
        }
    }
}
