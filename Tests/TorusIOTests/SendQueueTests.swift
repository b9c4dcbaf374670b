import Glibc
import Testing
import TorusTestSupport

@testable import Torus

// `SendQueue` on real loopback sockets: bytes leave in the order they were accepted, whatever
// mix of copies and received chunks; a peer that never reads makes `send` wait at the limit, and
// a wait stopped by a deadline accepts nothing; accepted bytes go out after the task that queued
// them has gone; short sends, interruptions and errors (injected and real) lose nothing or end
// the queue with an error naming the operation and the peer.

extension RuntimeSuite {
    @Suite("Send queue")
    struct SendQueueTests {
        @Test("copies of every size, received chunks and batches leave in order, byte for byte; the chunks go back to the pool")
        func everyByteInOrder() async throws {
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            let (sent, received, queuedAfterFlush) = try await runtime.handle.spawn(on: .core(0)) { () -> ([UInt8], [UInt8], Int) in
                let (client, server) = try await connectedPair()
                let (relay, relayPeer) = try await connectedPair()
                let queue = try server.sendQueue(limit: 256 << 10)
                let reading = spawn(on: .core(1)) { try await client.readToEnd() }
                var chunks = try relayPeer.receivedChunks().makeAsyncIterator()
                var random = SeededGenerator(seed: 5)
                var sent: [UInt8] = []
                for round in 0..<400 {
                    switch round % 5 {
                    case 0:
                        // Small copies: they share a staging buffer.
                        let bytes = pseudoRandomBytes(Int(random.next() % 40) + 1, seed: UInt64(round))
                        try await queue.send(bytes)
                        sent += bytes
                    case 1:
                        // Larger than a staging buffer: a buffer of its own.
                        let bytes = pseudoRandomBytes(Int(random.next() % 40_000) + 16_000, seed: UInt64(round))
                        try await queue.send(bytes[3...])
                        sent += bytes[3...]
                    case 2:
                        // An IOBuffer, reused at once: the queue sent a copy.
                        let buffer = IOBuffer(pseudoRandomBytes(Int(random.next() % 5000) + 1, seed: UInt64(round)))
                        try await queue.send(buffer)
                        sent += buffer.bytes
                        buffer.clear()
                        buffer.append([UInt8](repeating: 0xEE, count: 100))
                    default:
                        // Received chunks, one or a batch, queued without a copy.
                        let bytes = pseudoRandomBytes(Int(random.next() % 50_000) + 1, seed: UInt64(round))
                        try await relay.writeAll(bytes)
                        var got = 0
                        while got < bytes.count {
                            let batch = try await chunks.nextBatch()
                            got += batch.reduce(0) { $0 + $1.count }
                            if round % 2 == 0 { try await queue.send(batch) } else { for chunk in batch { try await queue.send(chunk) } }
                        }
                        sent += bytes
                    }
                }
                try await queue.flush()
                let queued = queue.queuedByteCount
                try await server.shutdown(.write)
                let received = try await reading.value
                for stream in [client, server, relay, relayPeer] { try await stream.close() }
                return (sent, received, queued)
            }.value
            #expect(received.count == sent.count, "\(received.count) bytes received of \(sent.count) sent")
            #expect(firstDifference(received, sent) == nil, "the bytes differ at \(firstDifference(received, sent) ?? -1)")
            #expect(queuedAfterFlush == 0)
            let core = await runtime.handle.metrics().cores[0]
            #expect(core.receiveBuffersOnLoan == 0, "a queued chunk kept its provided buffer: \(core)")
        }

        @Test(
            "a peer that never reads: send waits at the limit, a deadline stops the wait with nothing accepted, and the peer later gets exactly what was accepted"
        )
        func limitAndDeadline() async throws {
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            let outcome = try await runtime.handle.spawn(on: .core(0)) { () -> (String, [UInt8], [UInt8], Int) in
                let (client, server) = try await connectedPair()
                // Small kernel buffers, so that the queue, not the socket, holds the backlog.
                try setSocketBuffers(client, receive: 4096)
                try setSocketBuffers(server, send: 4096)
                let queue = try server.sendQueue(limit: 64 << 10)
                var accepted: [UInt8] = []
                var stopped = "never stopped"
                for round in 0..<10_000 {
                    let bytes = pseudoRandomBytes(1000, seed: UInt64(round))
                    do {
                        try await withTimeout(.milliseconds(200)) { try await queue.send(bytes) }
                        accepted += bytes
                    } catch {
                        stopped = "\(type(of: error)) after \(accepted.count) bytes, \(queue.queuedByteCount) queued"
                        break
                    }
                }
                let queuedAtStop = queue.queuedByteCount
                // The flush waits for a reader; under a deadline it stops, and the bytes stay queued.
                var flushOutcome = "returned"
                do { try await withTimeout(.milliseconds(50)) { try await queue.flush() } } catch { flushOutcome = "\(type(of: error))" }
                let reading = spawn(on: .core(1)) { try await client.readToEnd() }
                try await queue.flush()
                try await server.shutdown(.write)
                let received = try await reading.value
                try await client.close()
                try await server.close()
                return ("\(stopped); flush: \(flushOutcome)", accepted, received, queuedAtStop)
            }.value
            let (stopped, accepted, received, queuedAtStop) = outcome
            #expect(stopped.hasPrefix("TimeoutError"), "\(stopped)")
            #expect(stopped.hasSuffix("flush: TimeoutError"), "\(stopped)")
            // The wait ends at half the limit; the kernel took a little more meanwhile, not that.
            #expect(queuedAtStop > 32 << 10 && queuedAtStop < (64 << 10) + 1000, "\(queuedAtStop) bytes queued when send gave up")
            #expect(accepted.count >= 64 << 10, "only \(accepted.count) bytes accepted")
            #expect(received.count == accepted.count, "\(received.count) bytes received, \(accepted.count) accepted")
            #expect(firstDifference(received, accepted) == nil)
        }

        @Test("accepted bytes go out after the task that queued them ended without a flush, and after it was cancelled")
        func bytesOutliveTheTask() async throws {
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            let (expected, received) = try await runtime.handle.spawn(on: .core(0)) { () -> ([UInt8], [UInt8]) in
                let (client, server) = try await connectedPair()
                // The client's receive buffer keeps its usual size: 3 MiB through 4 KiB windows
                // would take a minute; the kernel still holds far less than the payload.
                try setSocketBuffers(server, send: 4096)
                let payload = pseudoRandomBytes(3 << 20, seed: 9)
                // A writer that queues everything (the limit is above it) and returns at once,
                // then one that is cancelled while waiting for room: what it had queued goes.
                let first = spawn { () -> Int in
                    let queue = try server.sendQueue(limit: 4 << 20)
                    try await queue.send(payload[..<(2 << 20)])
                    return queue.queuedByteCount
                }
                let queuedWhenDone = try await first.value
                let second = spawn { () -> Int in
                    // The stream's one queue, still holding most of the first task's bytes.
                    let queue = try server.sendQueue(limit: 4 << 20)
                    try await queue.send(payload[(2 << 20)...])  // accepted: under the limit
                    // With the limit lowered this one waits for room (nobody reads yet) until
                    // cancelled, and accepts nothing.
                    let lowered = try server.sendQueue(limit: 64 << 10)
                    do { try await lowered.send([0xFF]) } catch is CancellationError { return 1 }
                    return 0
                }
                try await sleep(for: .milliseconds(50))
                second.cancel()
                let cancelledWaits = try await second.value
                #expect(queuedWhenDone > 0, "the kernel took 2 MiB at once: the test proves nothing")
                #expect(cancelledWaits == 1)
                let received = try await client.readExactly(payload.count)
                // Nothing after the payload: the cancelled send's byte was not accepted.
                try await server.shutdown(.write)
                let after = try await client.readToEnd()
                try await client.close()
                try await server.close()
                return (payload, received + after)
            }.value
            #expect(received.count == expected.count, "\(received.count) bytes received of \(expected.count)")
            #expect(firstDifference(received, expected) == nil)
        }

        @Test("short sends, interruptions and a foreign cancel (injected) lose and repeat nothing")
        func shortAndInterruptedSends() async throws {
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            let (sent, received, hits) = try await runtime.handle.spawn(on: .core(0)) { () -> ([UInt8], [UInt8], [Int]) in
                let (client, server) = try await connectedPair()
                let peer = "\(try client.localAddress)"
                let queue = try server.sendQueue()
                let reading = spawn(on: .core(1)) { try await client.readToEnd() }
                var sent: [UInt8] = []
                var hits: [Int] = []
                var round: UInt64 = 0
                // One piece at a time: every call is a `send`.
                let sendRules = [
                    FaultRule("send", subject: peer, .short(7), times: 50),
                    FaultRule("send", subject: peer, .fail(.interrupted), skip: 3, times: 5),
                    FaultRule("send", subject: peer, .fail(.resourceTemporarilyUnavailable), skip: 10, times: 5),
                ]
                // Three 10 KB copies span two staging buffers: the first call is a `sendmsg`.
                let gatheredRules = [
                    FaultRule("sendmsg", subject: peer, .short(5), times: 50),
                    FaultRule("sendmsg", subject: peer, .fail(.canceled), skip: 2, times: 3),
                ]
                for (rules, wanted, sizes) in [(sendRules, 60, [11]), (gatheredRules, 53, [10_000, 10_000, 10_000])] {
                    let before = FaultInjection.injectedCount
                    try await FaultInjection.with(rules) {
                        while FaultInjection.injectedCount - before < wanted && round < 5000 {
                            for size in sizes {
                                let bytes = pseudoRandomBytes(size, seed: round)
                                try await queue.send(bytes)
                                sent += bytes
                                round += 1
                            }
                            try await queue.flush()
                        }
                    }
                    hits.append(FaultInjection.injectedCount - before)
                }
                try await server.shutdown(.write)
                let received = try await reading.value
                try await client.close()
                try await server.close()
                return (sent, received, hits)
            }.value
            #expect(hits == [60, 53], "faults injected: \(hits)")
            #expect(received.count == sent.count, "\(received.count) bytes received of \(sent.count)")
            #expect(firstDifference(received, sent) == nil)
        }

        @Test("a failing send ends the queue: queued bytes dropped, every later send and flush throws the error naming the operation and the peer")
        func injectedFailureEndsTheQueue() async throws {
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            let (messages, queued, peer) = try await runtime.handle.spawn(on: .core(0)) { () -> ([String], Int, String) in
                let (client, server) = try await connectedPair()
                let peer = "\(try client.localAddress)"
                let queue = try server.sendQueue()
                var messages: [String] = []
                try await FaultInjection.with([FaultRule("send", subject: peer, .fail(.connectionReset), skip: 1)]) {
                    try await queue.send([1, 2, 3])  // sent
                    try await queue.flush()
                    try await queue.send([4, 5, 6])  // fails at once: the queue is dead
                    for attempt in 0..<3 {
                        do {
                            if attempt == 1 { try await queue.flush() } else { try await queue.send([7]) }
                            messages.append("no error")
                        } catch {
                            messages.append("\(error)")
                        }
                    }
                }
                let queued = queue.queuedByteCount
                try await client.close()
                try await server.close()
                return (messages, queued, peer)
            }.value
            #expect(messages.count == 3)
            for message in messages {
                #expect(message.contains("send") && message.contains(peer) && message.contains("ECONNRESET"), "\(message)")
            }
            #expect(queued == 0)
        }

        @Test("a failed send shuts the socket down: a task reading the stream sees its end, and so does the peer")
        func failureEndsTheConnection() async throws {
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            let (readerSaw, peerSaw) = try await runtime.handle.spawn(on: .core(0)) { () -> (String, [UInt8]) in
                let (client, server) = try await connectedPair()
                let peer = "\(try client.localAddress)"
                // A task waiting for a request, as a server's session does.
                let reading = spawn(on: .core(0)) { () -> String in
                    let buffer = IOBuffer(capacity: 100)
                    do {
                        return try await withTimeout(.seconds(5)) { "read \(try await server.read(into: buffer)) bytes" }
                    } catch { return "\(error)" }
                }
                try await sleep(for: .milliseconds(20))
                try await FaultInjection.with([FaultRule("send", subject: peer, .fail(.connectionReset))]) {
                    try await server.sendQueue().send([1, 2, 3])
                }
                let readerSaw = try await reading.value
                let peerSaw = try await withTimeout(.seconds(5)) { try await client.readToEnd() }
                try await client.close()
                try await server.close()
                return (readerSaw, peerSaw)
            }.value
            #expect(readerSaw == "read 0 bytes", "the reading task: \(readerSaw)")
            #expect(peerSaw.isEmpty, "the peer got \(peerSaw)")
        }

        @Test("a peer that resets the connection with bytes queued: the queue reports the reset, drops the bytes, and gives the chunks back")
        func realResetEndsTheQueue() async throws {
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            let (outcome, onLoan) = try await runtime.handle.spawn(on: .core(0)) { () -> (String, Int) in
                let (client, server) = try await connectedPair()
                let (relay, relayPeer) = try await connectedPair()
                try setSocketBuffers(client, receive: 4096)
                try setSocketBuffers(server, send: 4096)
                let queue = try server.sendQueue(limit: 1 << 20)
                var chunks = try relayPeer.receivedChunks().makeAsyncIterator()
                // Received chunks sit in the queue (nobody reads the client yet).
                try await queueRelayed(pseudoRandomBytes(200 << 10, seed: 3), through: relay, chunks: &chunks, into: queue)
                // Unread bytes in its receive buffer: the client's close sends a reset.
                try await client.close()
                var outcome = "no error"
                do {
                    try await withTimeout(.seconds(5)) {
                        while true {
                            try await queue.send([UInt8](repeating: 1, count: 1000))
                            try await sleep(for: .milliseconds(1))
                        }
                    }
                } catch {
                    outcome = "\(error)"
                }
                let onLoan = await runtime.handle.metrics().cores[0].receiveBuffersOnLoan
                for stream in [server, relay, relayPeer] { try await stream.close() }
                return (outcome, onLoan)
            }.value
            #expect(outcome.contains("ECONNRESET") || outcome.contains("EPIPE"), "\(outcome)")
            #expect(outcome.contains("send"), "\(outcome)")
            #expect(onLoan == 0, "the dropped chunks kept \(onLoan) provided buffers")
        }

        @Test("closing the stream with bytes queued for a peer that never reads: the close returns, the flush reports it, nothing hangs")
        func closeWithBytesQueued() async throws {
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            let outcome = try await runtime.handle.spawn(on: .core(0)) { () -> (String, String) in
                let (client, server) = try await connectedPair()
                try setSocketBuffers(client, receive: 4096)
                try setSocketBuffers(server, send: 4096)
                let queue = try server.sendQueue(limit: 1 << 20)
                try await queue.send(pseudoRandomBytes(512 << 10, seed: 1))
                // The close comes from another task while this one waits in the flush.
                let closing = spawn {
                    try await sleep(for: .milliseconds(20))
                    try await withTimeout(.seconds(5)) { try await server.close() }
                }
                var flushed = "flushed"
                do {
                    try await withTimeout(.seconds(5)) { try await queue.flush() }
                } catch {
                    flushed = "\(error)"
                }
                try await closing.value
                var later = "no error"
                do { try await queue.send([1]) } catch { later = "\(error)" }
                try await client.close()
                return (flushed, later)
            }.value
            let (flushed, later) = outcome
            #expect(flushed.contains("send"), "the flush: \(flushed)")
            #expect(later == flushed, "a send after the failure: \(later)")
        }

        @Test("the runtime shuts down with bytes queued for a peer that never reads")
        func shutdownWithBytesQueued() async throws {
            let runtime = try makeRuntime()
            let peer = try await runtime.handle.spawn(on: .core(0)) { () -> TCPStream in
                let (client, server) = try await connectedPair()
                try setSocketBuffers(client, receive: 4096)
                try setSocketBuffers(server, send: 4096)
                let queue = try server.sendQueue(limit: 1 << 20)
                try await queue.send(pseudoRandomBytes(512 << 10, seed: 2))
                return client
            }.value
            let took = ContinuousClock().measure { runtime.shutdown(gracePeriod: .seconds(1)) }
            #expect(took < .seconds(5), "shutdown took \(took)")
            withExtendedLifetime(peer) {}
        }

        @Test("a stream dropped without a close, bytes still queued: they all arrive, then the end of stream (the descriptor is closed, not leaked)")
        func droppedStreamDeliversThenCloses() async throws {
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            let descriptorsBefore = openFileAndSocketDescriptors()
            let (expected, received) = try await runtime.handle.spawn(on: .core(0)) { () -> ([UInt8], [UInt8]) in
                var (client, server): (TCPStream, TCPStream?) = try await connectedPair()
                try setSocketBuffers(server!, send: 4096)
                let payload = pseudoRandomBytes(1 << 20, seed: 4)
                try await server!.sendQueue(limit: 2 << 20).send(payload)
                server = nil
                let received = try await withTimeout(.seconds(10)) { try await client.readToEnd() }
                try await client.close()
                return (payload, received)
            }.value
            #expect(received.count == expected.count, "\(received.count) bytes received of \(expected.count)")
            #expect(firstDifference(received, expected) == nil)
            try await eventually { openFileAndSocketDescriptors() <= descriptorsBefore }
        }

        @Test("a stream's one queue belongs to its core: asked for on the other core, a typed error naming the owner")
        func queueBelongsToItsCore() async throws {
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            let (client, server) = try await runtime.handle.spawn(on: .core(0)) { () -> (TCPStream, TCPStream) in
                let (client, server) = try await connectedPair()
                _ = try server.sendQueue()
                return (client, server)
            }.value
            let message = try await runtime.handle.spawn(on: .core(1)) { () -> String in
                do {
                    _ = try server.sendQueue()
                    return "no error"
                } catch {
                    return "\(error)"
                }
            }.value
            #expect(message.contains("core 0"), "\(message)")
            try await runtime.handle.spawn(on: .core(0)) {
                try await client.close()
                try await server.close()
            }.value
        }

        @Test(
            "a 16-entry ring: two dozen send queues, every send cut short, each completion sending on (more than the ring holds), and every byte arrives in order"
        )
        func fullQueueInsideHandlers() async throws {
            let runtime = try Runtime(RuntimeConfiguration(cores: .count(1), ringEntries: 16))
            defer { runtime.shutdown() }
            let mismatches = try await runtime.handle.spawn(on: .core(0)) { () -> [String] in
                var pairs: [(TCPStream, TCPStream)] = []
                for _ in 0..<24 { pairs.append(try await connectedPair()) }
                let payloads = (0..<pairs.count).map { pseudoRandomBytes(200_000, seed: UInt64($0)) }
                let readers = pairs.map { pair in
                    spawn { () -> [UInt8] in
                        var received: [UInt8] = []
                        var chunks = try pair.0.receivedChunks().makeAsyncIterator()
                        while let chunk = try await chunks.next() { received += chunk.bytes }
                        return received
                    }
                }
                // Every send is cut short (injected), so that each completion sends on: two
                // dozen handlers submitting in one batch, eight SQ slots free.
                let short = [FaultRule("send", .short(1000), times: .max), FaultRule("sendmsg", .short(1000), times: .max)]
                try await FaultInjection.with(short) {
                    let writers = pairs.enumerated().map { index, pair in
                        spawn {
                            let queue = try pair.1.sendQueue(limit: 8 << 10)
                            var offset = 0
                            while offset < payloads[index].count {
                                let end = min(offset + 3000, payloads[index].count)
                                try await queue.send(payloads[index][offset..<end])
                                offset = end
                            }
                            try await queue.flush()
                            try await pair.1.shutdown(.write)
                        }
                    }
                    for writer in writers { try await writer.value }
                }
                var mismatches: [String] = []
                for (index, reader) in readers.enumerated() {
                    let received = try await reader.value
                    if let at = firstDifference(received, payloads[index]) {
                        mismatches.append("connection \(index): \(received.count) bytes, first difference at \(at)")
                    }
                }
                for pair in pairs {
                    try await pair.0.close()
                    try await pair.1.close()
                }
                return mismatches
            }.value
            #expect(mismatches.isEmpty, "\(mismatches)")
        }

        @Test("a send queue off the runtime is refused with a typed error")
        func offTheRuntime() async throws {
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            let stream = try await runtime.handle.spawn(on: .core(0)) { () -> TCPStream in
                let (client, _) = try await connectedPair()
                return client
            }.value
            #expect(throws: RuntimeError.self) { _ = try stream.sendQueue() }
        }
    }
}
