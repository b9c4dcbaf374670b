import Foundation
import Testing
import TorusRing
import TorusTestSupport

@testable import Torus

// Attacks on the provided-buffer window (`ProvidedBufferPool`): buffers held back, posted
// from the held stack, bundles across them and growth under stress; every buffer lent at once
// after churn (none lost, none posted twice); tiny pools of 1-byte buffers; chunks kept on loan
// for long must not keep the window wide (it would post every free buffer again, cold); a
// receive starved with nothing held must not widen it (posting more cannot help it).

/// Chunks the receivers of one core keep on loan (touched on that core only).
private final class ChunksOnLoan: @unchecked Sendable {
    var chunks: [ReceivedBuffer] = []
}

extension RuntimeSuite.ProvidedBuffers {
    /// `count` messages of `size` bytes from core 1, one at a time (each acknowledged), each its
    /// own receive: the consumer keeps every chunk (returned), so buffers go on loan one per turn
    /// and the window is never exhausted.
    private static func hoard(_ listener: TCPListener, messages: Int, size: Int) async throws -> (TCPStream, [ReceivedBuffer]) {
        let address = try listener.localAddress
        let client = spawn(on: .core(1)) {
            let stream = try await TCPStream.connect(to: address)
            let message = IOBuffer(pseudoRandomBytes(size, seed: 5))
            let ack = IOBuffer(capacity: 1)
            for _ in 0..<messages {
                try await stream.writeAll(message)
                ack.clear()
                guard try await stream.read(into: ack) == 1 else { throw IOError(operation: "ack", errno: .ioError) }
            }
            try await stream.close()
        }
        let connection = try await listener.accept()
        var kept: [ReceivedBuffer] = []
        var received = 0
        let ack = IOBuffer([1])
        var chunks = try connection.receivedChunks().makeAsyncIterator()
        while received < messages * size, let chunk = try await chunks.next() {
            kept.append(chunk)
            received += chunk.count
            if received % size == 0 { try await connection.writeAll(ack) }
        }
        try await client.value
        return (connection, kept)
    }

    @Test(
        "a burst widens the window to the whole group, then 100 chunks stay on loan: quiet turns still shrink it (the loans are not a turn's use)"
    )
    func longLoansDoNotPinTheWindow() async throws {
        let runtime = try Runtime(
            RuntimeConfiguration(cores: .count(2), receiveBufferCount: 256, receiveBufferSize: 4096, receiveBufferLimit: 256))
        defer { runtime.shutdown(gracePeriod: .milliseconds(200)) }
        let connections = 200
        let size = 3000
        let keep = 100
        typealias Outcome = (burst: Int, quiet: Int, onLoan: Int)
        let outcome = try await runtime.handle.spawn(on: .core(0)) { () -> Outcome in
            let pool = Core.current!.receiveBuffers
            let listener = try TCPListener.bind(.loopback(port: 0), backlog: 512)
            let (peers, streams) = try await connectFromCoreOne(connections, to: listener)
            try await sendIndexBytes(from: peers, size: size)
            let onLoan = ChunksOnLoan()
            let receivers = streams.enumerated().map { index, stream in
                spawn {
                    var chunks = try stream.receivedChunks().makeAsyncIterator()
                    var bytes = 0
                    while bytes < size, let chunk = try await chunks.next() {
                        bytes += chunk.count
                        if index < keep { onLoan.chunks.append(chunk) }
                    }
                }
            }
            try await withTimeout(.seconds(20)) {
                for receiver in receivers { try await receiver.value }
            }
            let burst = pool.window(ofGroup: 0)
            // Quiet turns, one byte at a time, while the kept chunks stay on loan.
            try await oneByteTurns(3 * ProvidedBufferPool.decayTurns, on: listener)
            let quietWindow = pool.window(ofGroup: 0)
            let count = onLoan.chunks.count
            onLoan.chunks = []
            for stream in streams { try await stream.close() }
            try await spawn(on: .core(1)) { for peer in peers { try await peer.close() } }.value
            return (burst, quietWindow, count)
        }.value
        try #require(outcome.burst == 256, "the burst widened the window to the whole group")
        #expect(outcome.onLoan >= keep)
        #expect(outcome.quiet < outcome.burst, "3,072 turns of one byte each with \(outcome.onLoan) chunks on loan: window \(outcome.quiet)")
    }

    @Test("100 of 128 buffers on loan, then a burst on 8 other connections starves receives with nothing held: the window stays as it was")
    func starvedWithNothingHeldDoesNotWiden() async throws {
        let runtime = try Runtime(
            RuntimeConfiguration(cores: .count(2), receiveBufferCount: 128, receiveBufferSize: 256, receiveBufferLimit: 128))
        defer { runtime.shutdown(gracePeriod: .milliseconds(200)) }
        let burst = 64 << 10
        typealias Outcome = (hoarded: Int, windowBefore: Int, window: Int, widenings: UInt64, received: Int, intact: Bool, lent: Int)
        let outcome = try await runtime.handle.spawn(on: .core(0)) { () -> Outcome in
            let pool = Core.current!.receiveBuffers
            let listener = try TCPListener.bind(.loopback(port: 0))
            let address = try listener.localAddress
            var (first, kept) = try await Self.hoard(listener, messages: 100, size: 100)
            let windowBefore = pool.window(ofGroup: 0)
            let hoarded = kept.count
            // 28 buffers free, all posted, none held: the burst empties the ring.
            // Eight connections whose bytes wait in their sockets (far more than the 28 free
            // buffers' worth) before their receives are armed, all in one turn: the first ones
            // empty the ring, the others find it empty.
            let payloads = (0..<8).map { pseudoRandomBytes(burst, seed: 9 &+ UInt64($0)) }
            let senders = payloads.map { payload in
                spawn(on: .core(1)) {
                    let stream = try await TCPStream.connect(to: address)
                    try await stream.writeAll(IOBuffer(payload))
                    try await stream.close()
                }
            }
            var streams: [TCPStream] = []
            for _ in payloads { streams.append(try await listener.accept()) }
            try await sleep(for: .milliseconds(50))
            let receivers = streams.map { stream in
                spawn { () -> [UInt8] in
                    var received: [UInt8] = []
                    for try await chunk in try stream.receivedChunks() { received += chunk.bytes }
                    try await stream.close()
                    return received
                }
            }
            var received = 0
            var intact = true
            try await withTimeout(.seconds(10)) {
                for (index, receiver) in receivers.enumerated() {
                    let bytes = try await receiver.value
                    received += bytes.count
                    intact = intact && bytes == payloads[index]
                }
                for sender in senders { try await sender.value }
            }
            let window = pool.window(ofGroup: 0)
            let widenings = pool.windowWidenings
            kept = []
            try await first.close()
            return (hoarded, windowBefore, window, widenings, received, intact, pool.lent)
        }.value
        try #require(outcome.hoarded == 100 && outcome.windowBefore == ProvidedBufferPool.initialWindow, "\(outcome)")
        #expect(outcome.received == 8 * burst && outcome.intact)
        #expect(outcome.lent == 0)
        #expect(outcome.widenings == 0, "nothing was held: \(outcome)")
        #expect(outcome.window == ProvidedBufferPool.initialWindow, "\(outcome)")
    }

    @Test(
        "stress: 48 connections on 128 x 512 growing to 512, bundles on: buffers held and posted from the window, every byte in order, every buffer back"
    )
    func stressWindowedPool() async throws {
        try await expectBundleRounds { round in
            try await stressRun(
                connections: 48, perConnection: 256 << 10, bundles: true, seed: 3100 &+ round, count: 128, limit: 512, maxWrite: 40000,
                maxHeld: 6)
        }
    }

    @Test(
        "after churn that widens, holds and posts, a hoarding consumer gets every one of the 128 buffers on loan at once, each once (none lost, none posted twice)",
        arguments: [true, false])
    func everyBufferOnceAfterChurn(bundles: Bool) async throws {
        var configuration = RuntimeConfiguration(cores: .count(2), receiveBufferCount: 128, receiveBufferSize: 256, receiveBufferLimit: 128)
        configuration.receiveBundles = bundles
        let runtime = try Runtime(configuration)
        defer { runtime.shutdown(gracePeriod: .milliseconds(200)) }
        typealias Outcome = (churned: Bool, distinct: Int, held: Int, lent: Int, widenings: UInt64)
        let outcome = try await runtime.handle.spawn(on: .core(0)) { () -> Outcome in
            let pool = Core.current!.receiveBuffers
            let listener = try TCPListener.bind(.loopback(port: 0), backlog: 64)
            let address = try listener.localAddress
            // Churn: 24 connections at once, consumers keeping a few chunks a while.
            let payloads = (0..<24).map { pseudoRandomBytes(48 << 10, seed: 70 &+ UInt64($0)) }
            var senders: [JoinHandle<Void>] = []
            var consumers: [JoinHandle<Bool>] = []
            for payload in payloads {
                senders.append(
                    spawn(on: .core(1)) {
                        let client = try await TCPStream.connect(to: address)
                        var offset = 0
                        while offset < payload.count {
                            let size = min(payload.count - offset, 7000)
                            try await client.writeAll(IOBuffer(Array(payload[offset..<(offset + size)])))
                            offset += size
                        }
                        try await client.close()
                    })
                let connection = try await listener.accept()
                consumers.append(
                    spawn { () -> Bool in
                        var received: [UInt8] = []
                        var kept: [ReceivedBuffer] = []
                        for try await chunk in try connection.receivedChunks() {
                            received += chunk.bytes
                            kept.append(chunk)
                            if kept.count > 3 { kept.removeFirst(2) }
                            if received.count % 5 == 0 { await Task.yield() }
                        }
                        kept = []
                        try await connection.close()
                        return received == payload
                    })
            }
            let churned = try await withTimeout(.seconds(20)) { () -> Bool in
                for sender in senders { try await sender.value }
                var intact = true
                for consumer in consumers { intact = try await consumer.value && intact }
                return intact
            }
            // Hoard: more bytes than the pool holds; keep every chunk until all 128 are on loan.
            let sender = spawn(on: .core(1)) {
                let client = try await TCPStream.connect(to: address)
                try await client.writeAll(IOBuffer(pseudoRandomBytes(256 << 10, seed: 4)))
                try await client.close()
            }
            let connection = try await listener.accept()
            var chunks = try connection.receivedChunks().makeAsyncIterator()
            var hoard: [ReceivedBuffer] = []
            try await withTimeout(.seconds(10)) {
                while hoard.count < 128, let chunk = try await chunks.next() { hoard.append(chunk) }
            }
            let distinct = Set(hoard.map { UInt(bitPattern: $0.address) }).count
            let count = hoard.count
            hoard = []
            while try await chunks.next() != nil {}
            try await sender.value
            try await connection.close()
            return (churned, distinct, count, pool.lent, pool.windowWidenings)
        }.value
        #expect(outcome.churned, "every churn connection's bytes intact")
        #expect(outcome.held == 128 && outcome.distinct == 128, "\(outcome)")
        #expect(outcome.lent == 0)
    }

    @Test(
        "tiny pools of 1-byte buffers at their limit (window as large as the group, or 64 of 128): three connections' bytes intact, every buffer back",
        arguments: [1, 2, 4, 8, 128])
    func tinyPoolsOfOneByteBuffers(count: Int) async throws {
        let runtime = try Runtime(
            RuntimeConfiguration(cores: .count(2), receiveBufferCount: count, receiveBufferSize: 1, receiveBufferLimit: count))
        defer { runtime.shutdown(gracePeriod: .milliseconds(200)) }
        let size = 1500
        let outcome = try await runtime.handle.spawn(on: .core(0)) { () -> (intact: Bool, lent: Int, capacity: Int) in
            let listener = try TCPListener.bind(.loopback(port: 0))
            let address = try listener.localAddress
            let payloads = (0..<3).map { pseudoRandomBytes(size, seed: 40 &+ UInt64($0)) }
            let senders = payloads.map { payload in
                spawn(on: .core(1)) {
                    let stream = try await TCPStream.connect(to: address)
                    try await stream.writeAll(IOBuffer(payload))
                    try await stream.close()
                }
            }
            var receivers: [JoinHandle<[UInt8]>] = []
            for _ in payloads {
                let stream = try await listener.accept()
                receivers.append(
                    spawn {
                        var received: [UInt8] = []
                        for try await chunk in try stream.receivedChunks() { received += chunk.bytes }
                        try await stream.close()
                        return received
                    })
            }
            var intact = true
            try await withTimeout(.seconds(20)) {
                for sender in senders { try await sender.value }
                for (index, receiver) in receivers.enumerated() { intact = try await receiver.value == payloads[index] && intact }
            }
            let pool = Core.current!.receiveBuffers
            return (intact, pool.lent, pool.capacity)
        }.value
        #expect(outcome.intact)
        #expect(outcome.lent == 0)
        #expect(outcome.capacity == count)
    }

    @Test(
        "100 chunks on loan released on the other core come back to their own (held or posted), after which all 128 buffers can be on loan at once, each once"
    )
    func releasedOnAnotherCore() async throws {
        let runtime = try Runtime(
            RuntimeConfiguration(cores: .count(2), receiveBufferCount: 128, receiveBufferSize: 256, receiveBufferLimit: 128))
        defer { runtime.shutdown(gracePeriod: .milliseconds(200)) }
        let outcome = try await runtime.handle.spawn(on: .core(0)) { () -> (lentAfter: Int, distinct: Int, held: Int) in
            let pool = Core.current!.receiveBuffers
            let listener = try TCPListener.bind(.loopback(port: 0))
            var (first, kept) = try await Self.hoard(listener, messages: 100, size: 100)
            let away = ChunksOnLoan()
            away.chunks = kept
            kept = []
            try await spawn(on: .core(1)) { away.chunks = [] }.value
            try await withTimeout(.seconds(5)) {
                while pool.lent > 0 { try await sleep(for: .milliseconds(1)) }
            }
            let lentAfter = pool.lent
            try await first.close()
            let (second, all) = try await Self.hoard(listener, messages: 128, size: 100)
            let distinct = Set(all.map { UInt(bitPattern: $0.address) }).count
            let held = all.count
            try await second.close()
            return (lentAfter, distinct, held)
        }.value
        #expect(outcome.lentAfter == 0)
        #expect(outcome.held == 128 && outcome.distinct == 128, "\(outcome)")
    }

    @Test("the runtime shut down while chunks are on loan and buffers held: the chunks released afterwards on another thread are dropped quietly")
    func chunksOutliveTheRuntime() async throws {
        let away = ChunksOnLoan()
        do {
            let runtime = try Runtime(
                RuntimeConfiguration(cores: .count(2), receiveBufferCount: 128, receiveBufferSize: 256, receiveBufferLimit: 128))
            let count = try await runtime.handle.spawn(on: .core(0)) { () -> Int in
                let listener = try TCPListener.bind(.loopback(port: 0))
                var (stream, kept) = try await Self.hoard(listener, messages: 80, size: 100)
                away.chunks = kept
                kept = []
                try await stream.close()
                return away.chunks.count
            }.value
            #expect(count == 80)
            _ = await runtime.shutdown(gracePeriod: .milliseconds(200))
        }
        // After the shutdown, on the test's thread.
        let bytes = away.chunks.reduce(0) { $0 + $1.count }
        away.chunks = []
        #expect(bytes == 8000)
    }
}
