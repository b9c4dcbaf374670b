import Testing
import TorusTestSupport

@testable import Torus

// `ReceivedChunks.Iterator.nextBatch` and `TCPStream.writeAll([ReceivedBuffer])` on real
// loopback sockets: what has arrived comes out together, in order, and goes back out with one
// gathered write; a deadline takes nothing; every provided buffer returns to the pool.

extension RuntimeSuite {
    @Suite("Received chunks in batches")
    struct ReceivedBatchTests {
        @Test("nextBatch returns every chunk already waiting (at most maxCount), and an echo of the batches returns every byte in order")
        func batchesEchoEveryByte() async throws {
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            let payload = pseudoRandomBytes(100 << 10, seed: 21)
            let (firstBatch, limited, echoed) = try await runtime.handle.spawn(on: .core(0)) { () -> (Int, Int, [UInt8]) in
                let (client, server) = try await connectedPair()
                var chunks = try server.receivedChunks().makeAsyncIterator()
                // Arm the receive, then let 100 KiB land in several 16 KiB buffers before asking.
                try await client.writeAll([UInt8]("x".utf8))
                let armed = try await chunks.nextBatch()
                try await client.writeAll(IOBuffer(payload))
                try await sleep(for: .milliseconds(50))
                let limitedBatch = try await chunks.nextBatch(maxCount: 2)
                let rest = try await chunks.nextBatch()
                let reading = spawn(on: .core(1)) { try await client.readExactly(payload.count + 1) }
                try await server.writeAll(armed)
                try await server.writeAll(limitedBatch)
                try await server.writeAll(rest)
                var echoedBytes = limitedBatch.reduce(0) { $0 + $1.count } + rest.reduce(0) { $0 + $1.count }
                while echoedBytes < payload.count {
                    let more = try await chunks.nextBatch()
                    try await server.writeAll(more)
                    echoedBytes += more.reduce(0) { $0 + $1.count }
                }
                let echoed = try await reading.value
                try await client.close()
                try await server.close()
                return (rest.count, limitedBatch.count, echoed)
            }.value
            #expect(limited == 2, "nextBatch(maxCount: 2) returned \(limited) chunks")
            #expect(firstBatch > 1, "the chunks that had arrived did not come out together")
            #expect(firstDifference(echoed, Array("x".utf8) + payload) == nil, "the echoed bytes differ")
            let core = await runtime.handle.metrics().cores[0]
            #expect(core.receiveBuffersOnLoan == 0, "a chunk of a batch kept its provided buffer: \(core)")
        }

        @Test("a nextBatch stopped by a deadline takes nothing; the bytes that arrive later come out of the next call")
        func deadlineTakesNothing() async throws {
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            let (stopped, received) = try await runtime.handle.spawn(on: .core(0)) { () -> (String, [UInt8]) in
                let (client, server) = try await connectedPair()
                var chunks = try server.receivedChunks().makeAsyncIterator()
                var stopped = "returned"
                do {
                    _ = try await withTimeout(.milliseconds(20)) { try await chunks.nextBatch() }
                } catch {
                    stopped = "\(type(of: error))"
                }
                try await client.writeAll("after the deadline")
                var received: [UInt8] = []
                while received.count < 18 {
                    for chunk in try await withTimeout(.seconds(2), { try await chunks.nextBatch() }) { received += chunk.bytes }
                }
                try await client.shutdown(.write)
                let end = try await chunks.nextBatch()
                try await client.close()
                try await server.close()
                return (end.isEmpty ? stopped : "no end of stream", received)
            }.value
            #expect(stopped == "TimeoutError")
            #expect(received == Array("after the deadline".utf8))
        }
    }
}
