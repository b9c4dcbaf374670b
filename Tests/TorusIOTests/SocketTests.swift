import Foundation
import Testing
import TorusTestSupport

@testable import Torus

/// Echoes every connection on `listener` until cancelled.
func echoServer(_ listener: TCPListener) async throws {
    for try await connection in listener.connections {
        spawn {
            let buffer = IOBuffer(capacity: 64 << 10)
            while true {
                buffer.clear()
                let n = try await connection.read(into: buffer)
                if n == 0 { break }
                try await connection.writeAll(buffer)
            }
            try await connection.close()
        }
    }
}

extension RuntimeSuite {
    @Suite("Sockets")
    struct Sockets {
        @Test("socket addresses parse and print; bad strings are quoted in the error")
        func addresses() throws {
            #expect(try SocketAddress("127.0.0.1:8080").description == "127.0.0.1:8080")
            #expect(try SocketAddress("[::1]:443").description == "[::1]:443")
            #expect(try SocketAddress("[fe80::1%1]:80").description == "[fe80::1%1]:80")
            #expect(try SocketAddress("[fe80::1%lo]:80").host == "fe80::1%1")
            #expect(try SocketAddress("unix:/run/x.sock").description == "unix:/run/x.sock")
            #expect(try SocketAddress("/run/x.sock") == SocketAddress("unix:/run/x.sock"))
            #expect(try SocketAddress("0.0.0.0:0").port == 0)
            // Found by Fuzz/Targets/socket-address.swift: C reads up to a NUL, so text with one
            // was taken for its prefix (127.0.0.1, the path /tmp/a); a signed port was taken too.
            let fuzzed = ["127.0.0.1\0junk:80", "unix:/tmp/a\0b", "/tmp/a\0", "[::1\0]:80", "1.2.3.4:+80", "[::1]:+0"]
            #expect(throws: SocketAddressError.self) { try SocketAddress(host: "127.0.0.1\0x", port: 1) }
            #expect(throws: SocketAddressError.self) { try SocketAddress.unix(path: "/tmp/a\0b") }
            for bad in ["localhost", "1.2.3.4:99999", "1.2.3:80", "::1:80", "[::1]80", "[::1", "999.1.1.1:1", "[fe80::1%nosuchif]:1", "unix:"]
                + fuzzed
            {
                #expect {
                    _ = try SocketAddress(bad)
                } throws: { error in
                    (error as? SocketAddressError)?.description.contains("\"\(bad)\"") == true
                }
            }
        }

        @Test("TCP echo with split halves, addresses and options")
        func echo() async throws {
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            let result = try await runtime.handle.spawn(on: .core(0)) { () -> [String] in
                let listener = try TCPListener.bind(.loopback(port: 0))
                let address = try listener.localAddress
                let server = spawn(on: .core(1)) { try await echoServer(listener) }
                let client = try await TCPStream.connect(to: address, timeout: .seconds(5))
                try client.setNoDelay(true)
                try client.setKeepAlive(true)
                let addresses = ["\(try client.peerAddress == address)", "\(try client.localAddress.host)"]
                let (reader, writer) = client.split()
                let sender = spawn(on: .core(1)) {
                    for index in 0..<100 { try await writer.writeAll("line \(index)\n") }
                    try await writer.shutdown()
                }
                let lines = try await BufferedReader(reader).lines.reduce(into: [String]()) { $0.append($1) }
                try await sender.value
                server.cancel()
                return [lines.count.description, lines.last ?? ""] + addresses + ["\(try client.noDelay) \(try client.keepAlive)"]
            }.value
            #expect(result == ["100", "line 99", "true", "127.0.0.1", "true true"])
        }

        @Test("256 MiB through one connection, checksummed")
        func bigTransfer() async throws {
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            let total = 256 << 20
            let (sent, received) = try await runtime.handle.spawn(on: .core(0)) { () -> (UInt64, UInt64) in
                let listener = try TCPListener.bind(.loopback(port: 0))
                let address = try listener.localAddress
                let receiver = spawn(on: .core(1)) { () -> UInt64 in
                    let connection = try await listener.accept()
                    var checksum = Checksum()
                    let buffer = IOBuffer(capacity: 256 << 10)
                    while true {
                        buffer.clear()
                        if try await connection.read(into: buffer) == 0 { break }
                        buffer.withUnsafeBytes { checksum.add($0) }
                    }
                    return checksum.value
                }
                let client = try await TCPStream.connect(to: address)
                var checksum = Checksum()
                let chunk = IOBuffer(pseudoRandomBytes(64 << 10, seed: 11))
                for _ in 0..<(total / chunk.count) {
                    chunk.withUnsafeBytes { checksum.add($0) }
                    try await client.writeAll(chunk)
                }
                try await client.shutdown(.write)
                return (checksum.value, try await receiver.value)
            }.value
            #expect(sent == received)
        }

        @Test("1,000 concurrent connections")
        func manyConnections() async throws {
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            let descriptorsBefore = openFileAndSocketDescriptors()
            let echoed = try await runtime.handle.spawn(on: .core(0)) { () -> Int in
                let listener = try TCPListener.bind(.loopback(port: 0), backlog: 1024)
                let address = try listener.localAddress
                let server = spawn(on: .core(1)) { try await echoServer(listener) }
                let total = try await withThrowingTaskGroup(of: Int.self) { group in
                    for index in 0..<1000 {
                        group.addTask {
                            try await spawn(on: .core(index % 2)) { () -> Int in
                                let connection = try await TCPStream.connect(to: address)
                                let message = Array("hello \(index)".utf8)
                                try await connection.writeAll(message)
                                let back = try await connection.readExactly(message.count)
                                try await connection.close()
                                return back == message ? 1 : 0
                            }.value
                        }
                    }
                    return try await group.reduce(0, +)
                }
                server.cancel()
                _ = await server.result
                try await listener.close()
                return total
            }.value
            #expect(echoed == 1000)
            try await eventually { openFileAndSocketDescriptors() <= descriptorsBefore }
        }

        @Test("half-close, peer reset and broken pipe")
        func closes() async throws {
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            let log = try await runtime.handle.spawn(on: .core(0)) { () -> [String] in
                var log: [String] = []
                let listener = try TCPListener.bind(.loopback(port: 0))
                let address = try listener.localAddress
                // Half-close: the client stops writing, still reads the reply.
                let server = spawn(on: .core(1)) { () -> String in
                    let connection = try await listener.accept()
                    let request = try await connection.readToEnd()
                    try await connection.writeAll("got \(request.count)")
                    try await connection.close()
                    return "server saw end of stream"
                }
                let client = try await TCPStream.connect(to: address)
                try await client.writeAll("12345")
                try await client.shutdown(.write)
                log.append(String(decoding: try await client.readToEnd(), as: UTF8.self))
                log.append(try await server.value)

                // Reset: the peer closes with SO_LINGER 0.
                let resetter = spawn(on: .core(1)) {
                    let connection = try await listener.accept()
                    var linger = Glibc.linger(l_onoff: 1, l_linger: 0)
                    setsockopt(connection.descriptor.rawValue, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<Glibc.linger>.size))
                    try await connection.close()
                }
                let victim = try await TCPStream.connect(to: address)
                try await resetter.value
                try await sleep(for: .milliseconds(5))
                do {
                    _ = try await victim.read(into: IOBuffer(capacity: 16))
                    log.append("no reset")
                } catch let error as IOError {
                    log.append("reset \(error.isConnectionReset) \(error.operation)")
                }

                // Broken pipe: keep writing to a closed peer.
                let closer = spawn(on: .core(1)) { try await listener.accept().close() }
                let writer = try await TCPStream.connect(to: address)
                try await closer.value
                do {
                    for _ in 0..<1000 {
                        try await writer.writeAll(IOBuffer(capacity: 64 << 10).filled())
                        try await sleep(for: .milliseconds(1))
                    }
                    log.append("no error")
                } catch let error as IOError {
                    log.append("write error \(error.isBrokenPipe || error.isConnectionReset)")
                }
                return log
            }.value
            #expect(log == ["got 5", "server saw end of stream", "reset true recv", "write error true"])
        }

        @Test("connection refused, address in use, connect timeout")
        func connectErrors() async throws {
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            let port = try unusedPort()
            let log = try await runtime.handle.spawn { () -> [String] in
                var log: [String] = []
                do {
                    _ = try await TCPStream.connect(to: .loopback(port: port))
                } catch {
                    log.append("\(error)")
                }
                let listener = try TCPListener.bind(.loopback(port: 0))
                let address = try listener.localAddress
                do {
                    _ = try TCPListener.bind(address)
                } catch let error as IOError {
                    log.append("in use \(error.isAddressInUse) \(error.description.contains(address.description))")
                }
                // A listener that never accepts, with a full backlog: new SYNs are dropped.
                let full = try TCPListener.bind(.loopback(port: 0), backlog: 0)
                let fullAddress = try full.localAddress
                var parked: [TCPStream] = []
                var timedOut = false
                for _ in 0..<8 {
                    do {
                        parked.append(try await TCPStream.connect(to: fullAddress, timeout: .milliseconds(200)))
                    } catch is TimeoutError {
                        timedOut = true
                        break
                    }
                }
                log.append("timeout \(timedOut)")
                _ = parked
                return log
            }.value
            #expect(log == ["connect 127.0.0.1:\(port): Connection refused (ECONNREFUSED)", "in use true true", "timeout true"])
        }

        @Test("cancelled accept and read: CancellationError, no descriptor leaked")
        func cancellation() async throws {
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            let before = openFileAndSocketDescriptors()
            try await runtime.handle.spawn(on: .core(0)) {
                let listener = try TCPListener.bind(.loopback(port: 0))
                let address = try listener.localAddress
                let accepting = spawn { try await listener.accept() }
                try await sleep(for: .milliseconds(5))
                accepting.cancel()
                do { _ = try await accepting.value } catch is CancellationError {}

                let server = spawn(on: .core(1)) { () -> Void in
                    let connection = try await listener.accept()
                    _ = try await connection.readToEnd()
                }
                let client = try await TCPStream.connect(to: address)
                let reading = spawn { try await client.read(into: IOBuffer(capacity: 8)) }
                try await sleep(for: .milliseconds(5))
                reading.cancel()
                do { _ = try await reading.value } catch is CancellationError {}
                try await client.close()
                try await server.value
                try await listener.close()
            }.value
            try await eventually { openFileAndSocketDescriptors() <= before }
            for core in runtime.cores {
                let inFlight = await core.run { core.driver.operations.inFlight }
                #expect(inFlight == 0)
            }
        }

        @Test("UDP send to / receive from, and connected")
        func udp() async throws {
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            let log = try await runtime.handle.spawn { () -> [String] in
                let a = try UDPSocket.bind(.loopback(port: 0))
                let b = try UDPSocket.bind("127.0.0.1:0")
                let bAddress = try b.localAddress
                try await a.send(Array("ping".utf8), to: bAddress)
                let buffer = IOBuffer(capacity: 100)
                let (count, sender) = try await b.receive(into: buffer)
                try b.connect(to: sender!)
                try await b.send(IOBuffer(Array("pong".utf8)))
                let reply = IOBuffer(capacity: 100)
                let (_, from) = try await a.receive(into: reply)
                return [
                    "\(count) \(String(decoding: buffer.bytes, as: UTF8.self))", "\(sender! == (try a.localAddress))",
                    String(decoding: reply.bytes, as: UTF8.self), "\(from! == bAddress)",
                ]
            }.value
            #expect(log == ["4 ping", "true", "pong", "true"])
        }

        @Test("unix-domain stream round trip")
        func unixStream() async throws {
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            let directory = try makeTemporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let path = FilePath(directory + "/echo.sock")
            let reply = try await runtime.handle.spawn { () -> String in
                let listener = try UnixListener.bind(path)
                let server = spawn(on: .core(1)) {
                    let connection = try await listener.accept()
                    _ = try await copy(from: connection, to: connection)
                    try await connection.close()
                }
                let client = try await UnixStream.connect(to: path)
                try await client.writeAll("over a unix socket")
                try await client.shutdown(.write)
                let reply = String(decoding: try await client.readToEnd(), as: UTF8.self)
                try await server.value
                return reply
            }.value
            #expect(reply == "over a unix socket")
        }
    }
}

extension IOBuffer {
    /// Fills the buffer to capacity with zeros.
    func filled() -> IOBuffer {
        withUnsafeMutableBytes { $0.initializeMemory(as: UInt8.self, repeating: 0) }
        count = capacity
        return self
    }
}
