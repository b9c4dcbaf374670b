import Glibc
import Testing
import TorusTestSupport

@testable import Torus

extension RuntimeSuite {
    @Suite("Listener groups")
    struct ListenerGroups {
        /// Listening sockets on `port` in this network namespace.
        static func listeners(on port: UInt16) -> Int {
            ["/proc/net/tcp", "/proc/net/tcp6"].compactMap(ListenerGroupGuard.readSmallFile)
                .flatMap(ListenerGroupGuard.listeningEntries).filter { $0.port == port }.count
        }

        @Test("a SO_REUSEPORT group cannot be joined by accident: a second group or reuseport listener on its port is EADDRINUSE")
        func groupIsExclusive() async throws {
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            try await runtime.handle.spawn {
                let group = try TCPListener.bindReusingPort(.loopback(port: 0), count: 2)
                let address = try group[0].localAddress
                let port = try #require(address.port)
                #expect(Self.listeners(on: port) == 2)
                // A second server started by mistake on the same port.
                #expect {
                    _ = try TCPListener.bindReusingPort(address, count: 2)
                } throws: { error in
                    (error as? IOError)?.isAddressInUse == true && "\(error)".contains("bind \(address)")
                }
                // It closed what it had bound: only the first group listens.
                #expect(Self.listeners(on: port) == 2)

                // Some other program's reuseport listener got there first: same answer.
                let stranger = try TCPListener.bind(.loopback(port: 0), reusePort: true)
                let strangerAddress = try stranger.localAddress
                #expect(throws: IOError.self) { _ = try TCPListener.bindReusingPort(strangerAddress, count: 2) }

                // Joining on purpose still works.
                let joined = try TCPListener.bindReusingPort(address, count: 1, allowSharing: true)
                #expect(Self.listeners(on: port) == 3)

                // Once the port is free again, a new group binds it.
                for listener in group + joined { try await listener.close() }
                let again = try TCPListener.bindReusingPort(address, count: 2)
                #expect(Self.listeners(on: port) == 2)
                for listener in again + [stranger] { try await listener.close() }
            }.value
        }

        @Test("/proc/net/tcp lines parse to address bytes, port and inode")
        func procNetParsing() {
            let table = """
                  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
                   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4242 1 0000000000000000 100 0 0 10 0
                   1: 0100007F:1F90 0100007F:D2F0 01 00000000:00000000 00:00000000 00000000     0        0 4243 1 0000000000000000 20 4 30 10 -1
                """
            let entries = ListenerGroupGuard.listeningEntries(table)
            #expect(entries.count == 1)
            #expect(entries.first?.address == [127, 0, 0, 1])
            #expect(entries.first?.port == 8080)
            #expect(entries.first?.inode == 4242)
            #expect(ListenerGroupGuard.overlaps([127, 0, 0, 1], [0, 0, 0, 0]))
            #expect(!ListenerGroupGuard.overlaps([127, 0, 0, 1], [127, 0, 0, 2]))
        }
    }
}

extension RuntimeSuite.ListenerGroups {
    @Test("TCPStream.abort ends a send blocked on a peer that does not read, from another task")
    func abortEndsBlockedSend() async throws {
        let runtime = try makeRuntime()
        defer { runtime.shutdown() }
        let outcome = try await runtime.handle.spawn { () -> String in
            let listener = try TCPListener.bind(.loopback(port: 0))
            let peer = try await TCPStream.connect(to: try listener.localAddress)
            var size: Int32 = 4096
            setsockopt(peer.descriptor.rawValue, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
            let connection = try await listener.accept()
            let writer = spawn { () -> String in
                let chunk = IOBuffer(Array(repeating: 9, count: 64 << 10))
                do {
                    while true { try await connection.writeAll(chunk) }
                } catch {
                    return "\(error)"
                }
            }
            try await sleep(for: .milliseconds(200))
            try connection.abort()
            try connection.abort()  // a connection already ended is not an error
            let ended = try await withTimeout(.seconds(2)) { try await writer.value }
            _ = peer
            return ended
        }.value
        #expect(outcome.contains("EPIPE"), "\(outcome)")
    }
}
