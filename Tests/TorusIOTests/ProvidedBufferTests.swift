import Foundation
import Testing
import TorusTestSupport

@testable import Torus

extension RuntimeSuite {
    @Suite("Provided buffers and multishot receive")
    struct ProvidedBuffers {
        @Test("echo through multishot receive and provided buffers, 8 MiB checksummed")
        func multishotEcho() async throws {
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            let total = 8 << 20
            let (sent, echoed) = try await runtime.handle.spawn(on: .core(0)) { () -> (UInt64, UInt64) in
                let listener = try TCPListener.bind(.loopback(port: 0))
                let address = try listener.localAddress
                let server = spawn(on: .core(1)) {
                    let connection = try await listener.accept()
                    for try await chunk in try connection.receivedChunks() {
                        try await connection.writeAll(chunk)
                    }
                    try await connection.close()
                }
                let client = try await TCPStream.connect(to: address)
                let (reader, writer) = client.split()
                let receiving = spawn { () -> UInt64 in
                    var checksum = Checksum()
                    let buffer = IOBuffer(capacity: 64 << 10)
                    var received = 0
                    while received < total {
                        buffer.clear()
                        let n = try await reader.read(into: buffer)
                        if n == 0 { break }
                        received += n
                        buffer.withUnsafeBytes { checksum.add($0) }
                    }
                    return checksum.value
                }
                var checksum = Checksum()
                let chunk = IOBuffer(pseudoRandomBytes(32 << 10, seed: 5))
                for _ in 0..<(total / chunk.count) {
                    chunk.withUnsafeBytes { checksum.add($0) }
                    try await writer.writeAll(chunk)
                }
                let echoed = try await receiving.value
                try await writer.shutdown()
                try await server.value
                return (checksum.value, echoed)
            }.value
            #expect(sent == echoed)
            for core in runtime.cores {
                let inFlight = await core.run { core.driver.operations.inFlight }
                #expect(inFlight == 0)
            }
        }

        @Test("2,000 idle connections armed with multishot receives hold no buffer; closing them cancels the receives")
        func idleConnections() async throws {
            let runtime = try Runtime(RuntimeConfiguration(cores: .count(2), receiveBufferCount: 64, receiveBufferSize: 4096))
            defer { runtime.shutdown() }
            let count = 2000
            let (armed, afterClose, answered) = try await runtime.handle.spawn(on: .core(0)) { () -> (Int, Int, Bool) in
                let listener = try TCPListener.bind(.loopback(port: 0), backlog: 4096)
                let address = try listener.localAddress
                let core = Core.current!
                var servers: [JoinHandle<Int>] = []
                var clients: [TCPStream] = []
                for _ in 0..<count {
                    let client = try await TCPStream.connect(to: address)
                    clients.append(client)
                    let connection = try await listener.accept()
                    servers.append(
                        spawn { () -> Int in
                            var bytes = 0
                            for try await chunk in try connection.receivedChunks() { bytes += chunk.count }
                            return bytes
                        })
                }
                try await sleep(for: .milliseconds(20))
                // 2,000 receives armed on 64 buffers: possible only because idle ones hold none.
                let armed = core.driver.operations.inFlight
                // One connection speaks, and is heard.
                try await clients[0].writeAll("hello")
                try await clients[0].close()
                let answered = try await servers[0].value == 5
                for client in clients.dropFirst() { try await client.close() }
                for server in servers.dropFirst() { _ = try await server.value }
                try await sleep(for: .milliseconds(5))
                return (armed, core.driver.operations.inFlight, answered)
            }.value
            #expect(armed >= count)
            #expect(answered)
            #expect(afterClose == 0)
        }
    }
}
