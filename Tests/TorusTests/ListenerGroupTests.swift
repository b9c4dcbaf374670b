import Testing
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
