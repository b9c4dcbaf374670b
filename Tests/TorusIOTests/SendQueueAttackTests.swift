import Glibc
import Synchronization
import SystemPackage
import Testing
import TorusChannels
import TorusTestSupport

@testable import Torus

// Attacks on `SendQueue` on real loopback sockets: the provided-buffer pool under a peer that
// does not read, more pieces than one `sendmsg` covers with short sends cutting them anywhere,
// short sends of every size across staging-buffer boundaries, waits ended from another core
// (cancellation, close, reset), and misuse (two waiting tasks, the wrong core). Shared test
// state is behind TorusChannels' `Lock` (pthread): ThreadSanitizer does not see through the
// futex of `Synchronization.Mutex`.

extension RuntimeSuite {
    @Suite("Send queue: attacks")
    struct SendQueueAttackTests {
        @Test(
            "an echo whose peer never reads queues its received chunks: they do not empty the core's provided-buffer pool, fresh connections are served"
        )
        func queuedChunksDoNotStarveThePool() async throws {
            // 64 buffers of 4 KiB per core and no growth: 64 small chunks held would empty it.
            let runtime = try Runtime(
                RuntimeConfiguration(cores: .count(2), receiveBufferCount: 64, receiveBufferSize: 4096, receiveBufferLimit: 64))
            defer { runtime.shutdown(gracePeriod: .milliseconds(200)) }
            let handle = runtime.handle
            let (served, onLoan, stuck) = try await runtime.handle.spawn(on: .core(0)) { () -> (Int, Int, String) in
                let listener = try TCPListener.bind(.loopback(port: 0), backlog: 64)
                let address = try listener.localAddress
                // One client (on core 1) that sends small messages and never reads the echo.
                let state = FloodState()
                let flood = spawn(on: .core(1)) {
                    do {
                        let client = try await TCPStream.connect(to: address)
                        try client.setNoDelay(true)
                        try setSocketBuffers(client, receive: 4096)
                        // Small requests, each arriving on its own (in its own provided buffer).
                        let message = IOBuffer([UInt8](repeating: 7, count: 64))
                        while true {
                            try await client.writeAll(message)
                            try await sleep(for: .milliseconds(1))
                        }
                    } catch {
                        state.notes.withLock { $0.append("flood: \(error)") }
                    }
                }
                let connection = try await listener.accept()
                try setSocketBuffers(connection, send: 4096)
                // The echo of torus-echo's `serve` (provided buffers, queued replies).
                let echo = spawn {
                    do {
                        let queue = try connection.sendQueue()
                        // Replies the peer does not read, until the kernel's buffers are full and
                        // the queue holds some: what follows waits in the queue (under its
                        // limit, so the echo goes on receiving).
                        while queue.queuedByteCount < 8 << 10 {
                            try await queue.send(pseudoRandomBytes(16 << 10, seed: 1))
                            try await sleep(for: .milliseconds(1))
                        }
                        state.notes.withLock { $0.append("jammed") }
                        var chunks = try connection.receivedChunks().makeAsyncIterator()
                        while true {
                            let batch = try await chunks.nextBatch()
                            if batch.isEmpty { break }
                            try await batch.count > 1 ? queue.send(batch) : queue.send(batch[0])
                        }
                    } catch {
                        state.notes.withLock { $0.append("echo: \(error)") }
                    }
                }
                try await sleep(for: .milliseconds(300))
                let stuck = "the stuck echo queued \(try connection.sendQueue().queuedByteCount) bytes, \(state.notes.withLock { $0 })"
                let onLoan = await handle.metrics().cores[0].receiveBuffersOnLoan
                var served = 0
                for index in 0..<5 {
                    let client = try await TCPStream.connect(to: address)
                    let fresh = try await listener.accept()
                    try await client.writeAll("hello \(index)")
                    let heard = try? await withTimeout(.milliseconds(500)) { () -> [UInt8]? in
                        for try await chunk in try fresh.receivedChunks() { return chunk.bytes }
                        return nil
                    }
                    if heard == Array("hello \(index)".utf8) { served += 1 }
                    try await client.close()
                    try await fresh.close()
                }
                flood.cancel()
                echo.cancel()
                try await connection.close()
                return (served, onLoan, stuck)
            }.value
            #expect(served == 5, "fresh connections served: \(served) of 5; provided buffers on loan: \(onLoan) of 64; \(stuck)")
            #expect(onLoan <= 16, "one stuck connection's queue holds \(onLoan) of the core's 64 provided buffers")
        }

        @Test(
            "more pieces than one sendmsg covers (chunks and copies interleaved, empty sends among them), short sends cutting anywhere: every byte once, in order"
        )
        func manyPiecesShortSends() async throws {
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            let handle = runtime.handle
            let (sent, received, onLoan, hits) = try await runtime.handle.spawn(on: .core(0)) { () -> ([UInt8], [UInt8], Int, Int) in
                let (client, server) = try await connectedPair()
                let (relay, relayPeer) = try await connectedPair()
                try setSocketBuffers(client, receive: 4096)
                try setSocketBuffers(server, send: 4096)
                let peer = "\(try client.localAddress)"
                let queue = try server.sendQueue(limit: 8 << 20)
                var chunks = try relayPeer.receivedChunks().makeAsyncIterator()
                // Every send of the server's stream is cut short from the first piece on, so a
                // send issued before the flush (one waiting for room when the reader starts) is
                // cut as well: each send the queue makes carries a random part of the pieces.
                let before = FaultInjection.injectedCount
                var lengths = SeededGenerator(seed: 78)
                var rules: [FaultRule] = []
                for _ in 0..<1000 {
                    let length = Int(lengths.next() % 700) + 1
                    rules.append(FaultRule("sendmsg", subject: peer, .short(length)))
                    rules.append(FaultRule("send", subject: peer, .short(length)))
                }
                var random = SeededGenerator(seed: 77)
                var sent: [UInt8] = []
                var reading: JoinHandle<[UInt8]>?
                try await FaultInjection.with(rules) {
                    for round in 0..<400 {
                        // A received chunk (or a few), then a small copy: a new piece each.
                        let bytes = pseudoRandomBytes(Int(random.next() % 300) + 1, seed: UInt64(round))
                        try await relay.writeAll(bytes)
                        var got = 0
                        while got < bytes.count {
                            let batch = try await chunks.nextBatch()
                            got += batch.reduce(0) { $0 + $1.count }
                            for chunk in batch { try await queue.send(chunk) }
                        }
                        sent += bytes
                        let copy = pseudoRandomBytes(Int(random.next() % 20) + 1, seed: UInt64(round) + 100_000)
                        switch round % 4 {
                        case 0: try await queue.send(copy)
                        case 1: try await queue.send(copy[...])
                        case 2: try await queue.send(IOBuffer(copy))
                        default:
                            try await queue.send([UInt8]())
                            try await queue.send(IOBuffer(capacity: 8))
                            try await queue.send([ReceivedBuffer]())
                            try await queue.send(copy[copy.count...])
                            try await queue.send(copy)
                        }
                        sent += copy
                    }
                    // Read only now: what the small buffers could not take is queued.
                    reading = spawn(on: .core(1)) { try await client.readToEnd() }
                    try await queue.flush()
                }
                let hits = FaultInjection.injectedCount - before
                try await server.shutdown(.write)
                let received = try await reading!.value
                let onLoan = await handle.metrics().cores[0].receiveBuffersOnLoan
                for stream in [client, server, relay, relayPeer] { try await stream.close() }
                return (sent, received, onLoan, hits)
            }.value
            #expect(hits > 150, "short sends injected: \(hits)")
            #expect(received.count == sent.count, "\(received.count) bytes received of \(sent.count)")
            #expect(firstDifference(received, sent) == nil, "differ at \(firstDifference(received, sent) ?? -1)")
            #expect(onLoan == 0)
        }

        @Test(
            "every send cut to N bytes, for N around 1, the iovec and the staging-buffer sizes, while more is appended behind the send in flight: every byte once, in order"
        )
        func shortSendsOfEverySize() async throws {
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            let failures = try await runtime.handle.spawn(on: .core(0)) { () -> [String] in
                var failures: [String] = []
                for cut in [1, 2, 3, 5, 16, 17, 999, 4095, 4096, 16383, 16384, 16385, 40_000] {
                    let (client, server) = try await connectedPair()
                    let peer = "\(try client.localAddress)"
                    let queue = try server.sendQueue(limit: 1 << 20)
                    let reading = spawn(on: .core(1)) { try await client.readToEnd() }
                    var sent: [UInt8] = []
                    // Sizes that fill a staging buffer to its last byte, cross into the next,
                    // and need a buffer of their own; fewer of them for the tiniest cuts.
                    let sizes = cut < 16 ? [1, 16382, 1, 2, 300, 7] : [1, 16382, 1, 2, 16384, 16385, 50_000, 3, 16383, 5]
                    try await FaultInjection.with([
                        FaultRule("send", subject: peer, .short(cut), times: .max),
                        FaultRule("sendmsg", subject: peer, .short(cut), times: .max),
                    ]) {
                        for (index, size) in sizes.enumerated() {
                            let bytes = pseudoRandomBytes(size, seed: UInt64(cut * 100 + index))
                            try await queue.send(bytes)
                            sent += bytes
                            // Let some of it go, so that later copies land behind a send in flight.
                            if index % 3 == 2 { try await sleep(for: .microseconds(200)) }
                        }
                        try await queue.flush()
                    }
                    try await server.shutdown(.write)
                    let received = try await reading.value
                    if received.count != sent.count || firstDifference(received, sent) != nil {
                        failures.append(
                            "cut \(cut): \(received.count) of \(sent.count) bytes, first difference at \(firstDifference(received, sent) ?? -1)")
                    }
                    try await client.close()
                    try await server.close()
                }
                return failures
            }.value
            #expect(failures.isEmpty, "\(failures)")
        }

        @Test("a 16 MiB copy under a 64 KiB limit is accepted whole and arrives intact")
        func hugeSingleCopy() async throws {
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            let (sent, received) = try await runtime.handle.spawn(on: .core(0)) { () -> ([UInt8], [UInt8]) in
                let (client, server) = try await connectedPair()
                let queue = try server.sendQueue(limit: 64 << 10)
                let reading = spawn(on: .core(1)) { try await client.readToEnd() }
                let small = pseudoRandomBytes(100, seed: 1)
                let huge = pseudoRandomBytes(16 << 20, seed: 2)
                try await queue.send(small)
                try await queue.send(huge)
                try await queue.send(small)
                try await queue.flush()
                try await server.shutdown(.write)
                let received = try await reading.value
                try await client.close()
                try await server.close()
                return (small + huge + small, received)
            }.value
            #expect(received.count == sent.count)
            #expect(firstDifference(received, sent) == nil)
        }

        @Test(
            "a send waiting for room and a flush, cancelled from another core: CancellationError at once, nothing of the send accepted, the rest arrives"
        )
        func cancelledFromAnotherCore() async throws {
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            let (outcomes, accepted, received) = try await runtime.handle.spawn(on: .core(0)) { () -> ([String], [UInt8], [UInt8]) in
                let (client, server) = try await connectedPair()
                try setSocketBuffers(client, receive: 4096)
                try setSocketBuffers(server, send: 4096)
                let queue = try server.sendQueue(limit: 32 << 10)
                let shared = SharedState()
                let sender = spawn { () -> String in
                    let queue = try server.sendQueue(limit: 32 << 10)
                    var round: UInt64 = 0
                    while true {
                        let bytes = pseudoRandomBytes(1000, seed: round)
                        if queue.queuedByteCount >= queue.limit { shared.waiting.store(true, ordering: .releasing) }
                        do { try await queue.send(bytes) } catch { return "\(type(of: error))" }
                        shared.accepted.withLock { $0 += bytes }
                        round += 1
                    }
                }
                while !shared.waiting.load(ordering: .acquiring) { try await sleep(for: .milliseconds(1)) }
                try await sleep(for: .milliseconds(50))
                var outcomes: [String] = []
                let clock = ContinuousClock()
                let start = clock.now
                try await spawn(on: .core(1)) { sender.cancel() }.value
                outcomes.append(try await withTimeout(.seconds(5)) { try await sender.value })
                outcomes.append("send took \(clock.now - start < .seconds(1) ? "<1s" : "\(clock.now - start)")")
                // A flush, cancelled from the other core.
                let flusher = spawn { () -> String in
                    do { try await server.sendQueue(limit: 32 << 10).flush() } catch { return "\(type(of: error))" }
                    return "flushed"
                }
                try await sleep(for: .milliseconds(50))
                try await spawn(on: .core(1)) { flusher.cancel() }.value
                outcomes.append(try await withTimeout(.seconds(5)) { try await flusher.value })
                let reading = spawn(on: .core(1)) { try await client.readToEnd() }
                try await queue.flush()
                try await server.shutdown(.write)
                let received = try await reading.value
                try await client.close()
                try await server.close()
                return (outcomes, shared.accepted.withLock { $0 }, received)
            }.value
            #expect(outcomes == ["CancellationError", "send took <1s", "CancellationError"])
            #expect(received.count == accepted.count, "\(received.count) received, \(accepted.count) accepted")
            #expect(firstDifference(received, accepted) == nil)
        }

        @Test(
            "a send waiting for room, or a flush, the stream closed from another core: it throws at once, the chunks go back",
            arguments: ["send", "flush"])
        func closedFromAnotherCoreWhileWaiting(waitingIn: String) async throws {
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            let handle = runtime.handle
            let (outcome, onLoan) = try await runtime.handle.spawn(on: .core(0)) { () -> (String, Int) in
                let (client, server) = try await connectedPair()
                let (relay, relayPeer) = try await connectedPair()
                try setSocketBuffers(client, receive: 4096)
                try setSocketBuffers(server, send: 4096)
                let queue = try server.sendQueue(limit: 64 << 10)
                var chunks = try relayPeer.receivedChunks().makeAsyncIterator()
                try await queueRelayed(pseudoRandomBytes(48 << 10, seed: 3), through: relay, chunks: &chunks, into: queue)
                let waiter = spawn { () -> String in
                    do {
                        let queue = try server.sendQueue(limit: 64 << 10)
                        if waitingIn == "flush" {
                            // More than the kernel's buffers take: the flush waits for a reader.
                            try await server.sendQueue(limit: 4 << 20).send(pseudoRandomBytes(2 << 20, seed: 4))
                            try await queue.flush()
                            return "flushed"
                        }
                        while true { try await queue.send(pseudoRandomBytes(1000, seed: 4)) }
                    } catch {
                        return "\(error)"
                    }
                }
                try await sleep(for: .milliseconds(100))
                try await spawn(on: .core(1)) { try await withTimeout(.seconds(5)) { try await server.close() } }.value
                let outcome = try await withTimeout(.seconds(5)) { try await waiter.value }
                let onLoan = await handle.metrics().cores[0].receiveBuffersOnLoan
                for stream in [client, relay, relayPeer] { try await stream.close() }
                return (outcome, onLoan)
            }.value
            #expect(outcome.contains("send") && outcome.contains("127.0.0.1"), "\(outcome)")
            #expect(onLoan == 0, "dropped chunks kept \(onLoan) provided buffers")
        }

        @Test("the peer resets while a send waits for room: the send throws the reset")
        func resetWhileWaitingForRoom() async throws {
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            let outcome = try await runtime.handle.spawn(on: .core(0)) { () -> String in
                let (client, server) = try await connectedPair()
                try setSocketBuffers(client, receive: 4096)
                try setSocketBuffers(server, send: 4096)
                let sender = spawn { () -> String in
                    do {
                        let queue = try server.sendQueue(limit: 16 << 10)
                        while true { try await queue.send(pseudoRandomBytes(1000, seed: 5)) }
                    } catch {
                        return "\(error)"
                    }
                }
                try await sleep(for: .milliseconds(100))
                // SO_LINGER 0: the close sends a reset.
                try client.handle.withDescriptor { fd in
                    var linger = Glibc.linger(l_onoff: 1, l_linger: 0)
                    setsockopt(fd.rawValue, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<Glibc.linger>.size))
                }
                try await client.close()
                let outcome = try await withTimeout(.seconds(5)) { try await sender.value }
                try await server.close()
                return outcome
            }.value
            #expect(outcome.contains("ECONNRESET") || outcome.contains("EPIPE"), "\(outcome)")
        }

        @Test("a Unix stream's queue and its write half's are one queue: bytes through both, cut short, arrive once and in order")
        func unixStreamAndWriteHalfShareTheQueue() async throws {
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            let path = "/tmp/torus-sendqueue-\(getpid()).sock"
            unlink(path)
            defer { unlink(path) }
            let (same, sent, received) = try await runtime.handle.spawn(on: .core(0)) { () -> (Bool, [UInt8], [UInt8]) in
                let listener = try UnixListener.bind(FilePath(path))
                let connecting = spawn(on: .core(1)) { try await UnixStream.connect(to: FilePath(path)) }
                let server = try await listener.accept()
                let client = try await connecting.value
                let (_, writeHalf) = server.split()
                let whole = try server.sendQueue(limit: 1 << 20)
                let half = try writeHalf.sendQueue(limit: 1 << 20)
                let reading = spawn(on: .core(1)) { try await client.readToEnd() }
                var sent: [UInt8] = []
                try await FaultInjection.with([
                    FaultRule("send", subject: path, .short(777), times: .max), FaultRule("sendmsg", subject: path, .short(777), times: .max),
                ]) {
                    for round in 0..<200 {
                        let bytes = pseudoRandomBytes(round * 37 % 5000 + 1, seed: UInt64(round))
                        try await (round % 2 == 0 ? whole : half).send(bytes)
                        sent += bytes
                    }
                    try await half.flush()
                }
                try await server.shutdown(.write)
                let received = try await reading.value
                try await client.close()
                try await server.close()
                try await listener.close()
                return (whole.engine === half.engine, sent, received)
            }.value
            #expect(same)
            #expect(received.count == sent.count)
            #expect(firstDifference(received, sent) == nil)
        }

        @Test("the runtime shuts down while a task on each core waits in a send for room: the shutdown returns")
        func shutdownWithTasksWaiting() async throws {
            let runtime = try makeRuntime()
            let peers = try await runtime.handle.spawn(on: .core(0)) { () -> [TCPStream] in
                var peers: [TCPStream] = []
                for core in 0..<2 {
                    let (client, server) = try await connectedPair()
                    try setSocketBuffers(client, receive: 4096)
                    try setSocketBuffers(server, send: 4096)
                    peers += [client, server]
                    // On the queue's own core: made there, used there.
                    spawn(on: .core(core)) {
                        let queue = try server.sendQueue(limit: 64 << 10)
                        while true { try await queue.send(pseudoRandomBytes(10_000, seed: 8)) }
                    }
                }
                return peers
            }.value
            try await Task.sleep(for: .milliseconds(100))
            let took = ContinuousClock().measure { runtime.shutdown(gracePeriod: .milliseconds(500)) }
            #expect(took < .seconds(5), "shutdown took \(took)")
            withExtendedLifetime(peers) {}
        }

        @Test(
            "50 streams closed from the other core with chunks and copies queued for peers that never read: every descriptor closed, every provided buffer back"
        )
        func manyClosedWithBytesQueued() async throws {
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            let handle = runtime.handle
            let descriptorsBefore = openFileAndSocketDescriptors()
            let onLoan = try await runtime.handle.spawn(on: .core(0)) { () -> Int in
                let (relay, relayPeer) = try await connectedPair()
                var chunks = try relayPeer.receivedChunks().makeAsyncIterator()
                var pairs: [(TCPStream, TCPStream)] = []
                for index in 0..<50 {
                    let (client, server) = try await connectedPair()
                    try setSocketBuffers(client, receive: 4096)
                    try setSocketBuffers(server, send: 4096)
                    let queue = try server.sendQueue(limit: 4 << 20)
                    try await queue.send(pseudoRandomBytes(300 << 10, seed: UInt64(index)))
                    try await relay.writeAll(pseudoRandomBytes(5000, seed: UInt64(index)))
                    var got = 0
                    while got < 5000 {
                        let batch = try await chunks.nextBatch()
                        got += batch.reduce(0) { $0 + $1.count }
                        try await queue.send(batch)
                    }
                    try await queue.send([1, 2, 3])
                    pairs.append((client, server))
                }
                let servers = pairs.map(\.1)
                try await spawn(on: .core(1)) {
                    try await withTimeout(.seconds(10)) { for server in servers { try await server.close() } }
                }.value
                for (client, _) in pairs { try await client.close() }
                try await relay.close()
                try await relayPeer.close()
                return await handle.metrics().cores[0].receiveBuffersOnLoan
            }.value
            #expect(onLoan == 0, "\(onLoan) provided buffers still on loan")
            try await eventually { openFileAndSocketDescriptors() <= descriptorsBefore }
        }

        @Test("several tasks waiting on one queue: each wakes at its own deadline with nothing accepted, and the others finish once the peer reads")
        func severalWaiters() async throws {
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            let first = pseudoRandomBytes(1 << 20, seed: 6)
            let (timedOut, received) = try await runtime.handle.spawn(on: .core(0)) { () -> ([String], [UInt8]) in
                let (client, server) = try await connectedPair()
                try setSocketBuffers(client, receive: 4096)
                try setSocketBuffers(server, send: 4096)
                try await server.sendQueue(limit: 16 << 10).send(first)
                // Two waits with deadlines, nobody reading: each wakes at its own.
                let flushing = spawn(on: .core(0)) { () -> String in
                    do {
                        try await withTimeout(.milliseconds(100)) { try await server.sendQueue().flush() }
                        return "flushed"
                    } catch { return "\(type(of: error))" }
                }
                let sending = spawn(on: .core(0)) { () -> String in
                    do {
                        try await withTimeout(.milliseconds(150)) { try await server.sendQueue().send([1]) }
                        return "sent"
                    } catch { return "\(type(of: error))" }
                }
                let timedOut = [try await flushing.value, try await sending.value]
                // Two waits without deadlines end once the peer reads: a flush, and a send.
                let draining = spawn(on: .core(0)) { try await server.sendQueue().flush() }
                let marking = spawn(on: .core(0)) { try await server.sendQueue().send([0xAB, 0xCD]) }
                let reading = spawn(on: .core(1)) { try await client.readExactly(first.count + 2) }
                try await withTimeout(.seconds(20)) {
                    try await draining.value
                    try await marking.value
                }
                let received = try await reading.value
                try await server.sendQueue().flush()
                try await server.shutdown(.write)
                let rest = try await client.readToEnd()
                try await client.close()
                try await server.close()
                return (timedOut, received + rest)
            }.value
            #expect(timedOut == ["TimeoutError", "TimeoutError"])
            #expect(received.count == first.count + 2, "\(received.count) bytes")
            #expect(received == first + [0xAB, 0xCD], "the timed-out send's byte went out, or the bytes differ")
        }

        @Test("a queue used on another core than its own stops the process (a precondition), not memory corruption")
        func wrongCoreTraps() async throws {
            await #expect(processExitsWith: .failure) {
                let runtime = try makeRuntime()
                let (queue, client): (UncheckedBox<SendQueue>, TCPStream) = try await runtime.handle.spawn(on: .core(0)) {
                    let (client, server) = try await connectedPair()
                    return (UncheckedBox(try server.sendQueue()), client)
                }.value
                try await runtime.handle.spawn(on: .core(1)) { try await queue.value.send([1, 2, 3]) }.value
                _ = client
                exit(0)
            }
        }
    }
}

private final class FloodState: Sendable {
    let notes = Lock<[String]>([])
}

private final class SharedState: Sendable {
    let accepted = Lock<[UInt8]>([])
    let waiting = Atomic<Bool>(false)
}

private struct UncheckedBox<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}
