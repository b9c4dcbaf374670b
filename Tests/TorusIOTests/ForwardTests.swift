import Glibc
import Testing
import TorusTestSupport

@testable import Torus

// `ReceivedChunks.Iterator.forward(to:)` on real loopback sockets: an echo and a proxy pass
// every byte in order; a destination that does not read slows the source down instead of
// filling memory; a deadline stops the forwarding with nothing lost or doubled, and a second
// call goes on where it stopped; errors on either side end it with an error naming the side.

extension RuntimeSuite {
    @Suite("Forwarding received chunks to a send queue")
    struct ForwardTests {
        @Test("an echo by forward(to:) of the stream's own queue returns every byte in order, and the count")
        func echo() async throws {
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            let payload = pseudoRandomBytes(3 << 20, seed: 11)
            let (echoed, forwarded) = try await runtime.handle.spawn(on: .core(0)) { () -> ([UInt8], Int) in
                let (client, server) = try await connectedPair()
                let echoing = spawn { () -> Int in
                    var chunks = try server.receivedChunks().makeAsyncIterator()
                    let count = try await chunks.forward(to: try server.sendQueue())
                    try await server.shutdown(.write)
                    return count
                }
                let reading = spawn(on: .core(1)) { try await client.readToEnd() }
                var offset = 0
                var random = SeededGenerator(seed: 2)
                while offset < payload.count {
                    let end = min(payload.count, offset + Int(random.next() % 70_000) + 1)
                    try await client.writeAll(payload[offset..<end])
                    offset = end
                }
                try await client.shutdown(.write)
                let forwarded = try await echoing.value
                let echoed = try await reading.value
                try await client.close()
                try await server.close()
                return (echoed, forwarded)
            }.value
            #expect(forwarded == payload.count)
            #expect(echoed.count == payload.count, "\(echoed.count) bytes echoed of \(payload.count)")
            #expect(firstDifference(echoed, payload) == nil)
            #expect(await runtime.handle.metrics().cores[0].receiveBuffersOnLoan == 0)
        }

        @Test("a proxy whose destination does not read holds a bounded number of buffers, then delivers everything once it reads")
        func destinationThatDoesNotRead() async throws {
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            let payload = pseudoRandomBytes(4 << 20, seed: 12)
            let (received, heldWhileStuck, forwarded) = try await runtime.handle.spawn(on: .core(0)) { () -> ([UInt8], Int, Int) in
                let (source, proxyIn) = try await connectedPair()
                let (proxyOut, destination) = try await connectedPair()
                let proxy = spawn { () -> Int in
                    var chunks = try proxyIn.receivedChunks().makeAsyncIterator()
                    let count = try await chunks.forward(to: try proxyOut.sendQueue(limit: 64 << 10))
                    try await proxyOut.shutdown(.write)
                    return count
                }
                // The source writes everything; it blocks once the proxy stops taking bytes.
                let writing = spawn(on: .core(1)) {
                    try await source.writeAll(payload)
                    try await source.shutdown(.write)
                }
                try await sleep(for: .milliseconds(300))
                let held = await RuntimeHandle.current!.metrics().cores[0].receiveBuffersOnLoan
                let received = try await destination.readToEnd()
                try await writing.value
                let forwarded = try await proxy.value
                for stream in [source, proxyIn, proxyOut, destination] { try await stream.close() }
                return (received, held, forwarded)
            }.value
            // 64 KiB queued (4 buffers of 16 KiB, plus the chunk that crossed the limit) and the
            // few the paused receive holds: far from the 256 the payload would take.
            #expect(heldWhileStuck <= 24, "\(heldWhileStuck) provided buffers held while the destination did not read")
            #expect(received.count == payload.count, "\(received.count) bytes of \(payload.count)")
            #expect(firstDifference(received, payload) == nil)
            #expect(forwarded == payload.count)
        }

        @Test("a deadline stops the forwarding; a second call goes on where it stopped, nothing lost or doubled")
        func deadlineThenResume() async throws {
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            let payload = pseudoRandomBytes(2 << 20, seed: 13)
            let (outcome, echoed) = try await runtime.handle.spawn(on: .core(0)) { () -> (String, [UInt8]) in
                let (client, server) = try await connectedPair()
                let reading = spawn(on: .core(1)) { try await client.readToEnd() }
                let writing = spawn(on: .core(1)) {
                    var offset = 0
                    while offset < payload.count {
                        let end = min(payload.count, offset + 5000)
                        try await client.writeAll(payload[offset..<end])
                        offset = end
                        if offset % 100_000 < 5000 { try await sleep(for: .milliseconds(5)) }
                    }
                    try await client.shutdown(.write)
                }
                var chunks = try server.receivedChunks().makeAsyncIterator()
                // A small limit: the forwarding often waits for room, where a deadline must not
                // lose the chunk it holds.
                let queue = try server.sendQueue(limit: 4096)
                var outcome = "returned"
                var stops = 0
                // Several deadlines in the middle of the stream, then to the end.
                while true {
                    do {
                        _ = try await withTimeout(.milliseconds(7)) { try await chunks.forward(to: queue) }
                        break
                    } catch is TimeoutError {
                        stops += 1
                    }
                }
                outcome = "stopped \(stops) times"
                try await server.shutdown(.write)
                try await writing.value
                let echoed = try await reading.value
                try await client.close()
                try await server.close()
                return (outcome, echoed)
            }.value
            #expect(outcome != "stopped 0 times", "no deadline fell inside the stream: the test proves nothing")
            #expect(echoed.count == payload.count, "\(echoed.count) bytes echoed of \(payload.count) (\(outcome))")
            #expect(firstDifference(echoed, payload) == nil, "\(outcome)")
        }

        @Test("a destination that resets: forward throws the send's error naming the destination")
        func destinationResets() async throws {
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            let (message, destinationAddress) = try await runtime.handle.spawn(on: .core(0)) { () -> (String, String) in
                let (source, proxyIn) = try await connectedPair()
                let (proxyOut, destination) = try await connectedPair()
                let address = "\(try destination.localAddress)"
                // Unread bytes in its buffer: the destination's close resets the connection.
                try await proxyOut.writeAll([1, 2, 3])
                try await sleep(for: .milliseconds(10))
                try await destination.close()
                let feeding = spawn(on: .core(1)) {
                    for _ in 0..<200 {
                        try await source.writeAll([UInt8](repeating: 7, count: 10_000))
                        try await sleep(for: .milliseconds(1))
                    }
                }
                var chunks = try proxyIn.receivedChunks().makeAsyncIterator()
                var message = "no error"
                do {
                    _ = try await withTimeout(.seconds(5)) { try await chunks.forward(to: try proxyOut.sendQueue()) }
                } catch {
                    message = "\(error)"
                }
                feeding.cancel()
                _ = try? await feeding.value
                for stream in [source, proxyIn, proxyOut] { try await stream.close() }
                return (message, address)
            }.value
            #expect(message.contains("send") && message.contains(destinationAddress), "\(message)")
            #expect(message.contains("EPIPE") || message.contains("ECONNRESET"), "\(message)")
        }
    }
}
