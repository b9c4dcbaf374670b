import Foundation
import Testing
import TorusRing
import TorusTestSupport

@testable import Torus

// The provided-buffer window (`ProvidedBufferPool`): only a few free buffers are posted to the
// kernel, so receives keep landing in the same warm memory instead of cycling through the
// whole pool; a turn that needs more widens the window, and quiet turns shrink it again.
extension RuntimeSuite.ProvidedBuffers {
    @Test("600 messages received one at a time land in the window of 64 warm buffers (and the one on loan), not across the pool's 1,024")
    func receivesStayInTheWindow() async throws {
        let runtime = try makeRuntime()
        defer { runtime.shutdown() }
        let messages = 600
        let (addresses, window) = try await runtime.handle.spawn(on: .core(0)) { () -> (Set<UInt>, Int) in
            let listener = try TCPListener.bind(.loopback(port: 0))
            let address = try listener.localAddress
            let client = spawn(on: .core(1)) {
                let stream = try await TCPStream.connect(to: address)
                let message = IOBuffer(pseudoRandomBytes(100, seed: 3))
                let ack = IOBuffer(capacity: 1)
                for _ in 0..<messages {
                    try await stream.writeAll(message)
                    ack.clear()
                    // One message in flight: each is its own receive.
                    guard try await stream.read(into: ack) == 1 else { throw IOError(operation: "ack", errno: .ioError) }
                }
                try await stream.close()
            }
            let connection = try await listener.accept()
            var addresses = Set<UInt>()
            var received = 0
            let ack = IOBuffer([1])
            for try await chunk in try connection.receivedChunks() {
                addresses.insert(UInt(bitPattern: chunk.address))
                received += chunk.count
                if received % 100 == 0 { try await connection.writeAll(ack) }
            }
            try await client.value
            try await connection.close()
            return (addresses, Core.current!.receiveBuffers.window(ofGroup: 0))
        }.value
        #expect(window == ProvidedBufferPool.initialWindow)
        // What an operator sees: 1,024 buffers, 64 of them posted, none widened.
        let metrics = await runtime.handle.metrics().cores[0]
        #expect(metrics.receiveBuffers == 1024)
        #expect(metrics.receiveBuffersPosted == ProvidedBufferPool.initialWindow, "\(metrics)")
        #expect(metrics.receiveBufferWindowWidenings == 0)
        #expect(addresses.count <= ProvidedBufferPool.initialWindow + 2, "\(addresses.count) distinct buffers for \(messages) receives")
        #expect(addresses.count > 1)
    }

    @Test(
        "300 connections' bytes arriving in one turn, more than the window: ENOBUFS widens it, every byte arrives intact, and quiet turns shrink it back"
    )
    func burstWidensThenShrinks() async throws {
        let runtime = try Runtime(RuntimeConfiguration(cores: .count(2), receiveBufferCount: 1024, receiveBufferSize: 4096))
        defer { runtime.shutdown(gracePeriod: .milliseconds(200)) }
        let connections = 300
        let size = 3000
        typealias Outcome = (intact: Int, values: Set<UInt8>, widened: UInt64, burst: Int, quiet: Int, lent: Int)
        let outcome = try await runtime.handle.spawn(on: .core(0)) { () -> Outcome in
            let pool = Core.current!.receiveBuffers
            let listener = try TCPListener.bind(.loopback(port: 0), backlog: 512)
            let (peers, streams) = try await connectFromCoreOne(connections, to: listener)
            // Every peer's bytes wait in its socket before any receive is armed; then all 300
            // receives are armed in one turn and find their bytes at once: far more buffers in
            // one go than the 64 posted.
            try await sendIndexBytes(from: peers, size: size)
            let receivers = streams.map { stream in
                spawn { () -> (intact: Int, value: UInt8?) in
                    var chunks = try stream.receivedChunks().makeAsyncIterator()
                    var bytes = 0
                    var intact = 0
                    var value: UInt8?
                    while bytes < size, let chunk = try await chunks.next() {
                        bytes += chunk.count
                        let first = value ?? chunk.withUnsafeBytes { $0[0] }
                        value = first
                        if chunk.withUnsafeBytes({ $0.allSatisfy { $0 == first } }) { intact += chunk.count }
                    }
                    return (intact, value)
                }
            }
            var intact = 0
            var values = Set<UInt8>()
            try await withTimeout(.seconds(20)) {
                for receiver in receivers {
                    let (bytes, value) = try await receiver.value
                    intact += bytes
                    if let value { values.insert(value) }
                }
            }
            let burst = pool.window(ofGroup: 0)
            for stream in streams { try await stream.close() }
            try await spawn(on: .core(1)) { for peer in peers { try await peer.close() } }.value
            // Quiet turns: one byte at a time on one connection.
            try await oneByteTurns(4 * ProvidedBufferPool.decayTurns, on: listener)
            return (intact, values, pool.windowWidenings, burst, pool.window(ofGroup: 0), pool.lent)
        }.value
        #expect(outcome.intact == connections * size)
        #expect(outcome.values.count == 256, "every byte value, one per connection (300 wraps past 255)")
        #expect(outcome.widened > 0)
        #expect(outcome.burst >= 256, "the window grew to hold the burst: \(outcome.burst)")
        #expect(outcome.quiet < outcome.burst, "quiet turns shrink it: \(outcome.quiet)")
        #expect(outcome.lent == 0)
        let metrics = await runtime.handle.metrics().cores[0]
        #expect(metrics.receiveBufferWindowWidenings == outcome.widened)
        #expect(metrics.receiveBuffersPosted == outcome.quiet, "all free buffers back to the window: \(metrics)")
    }
}
