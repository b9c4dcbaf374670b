import Foundation
import Testing
import TorusTestSupport

@testable import Torus

// Receive bundles under stress (first written by an adversarial review): many connections on
// a tiny pool that grows mid-stream, bundles that wrap the rings many times, consumers that
// take chunks one by one or in batches and release them in a scrambled order. Every byte of
// every connection is checked, and every buffer must come back. One round each by default;
// TORUS_STRESS=1 runs ten.

private let stressRounds = ProcessInfo.processInfo.environment["TORUS_STRESS"] == nil ? 1 : 10

extension RuntimeSuite.ProvidedBuffers {
    struct StressOutcome: Sendable {
        var mismatches: [String]
        var onLoan: Int
        var bundled: UInt64
        var groups: [Int]
        var kernelHasBundles: Bool
    }

    /// `connections` senders on core 1 stream distinct pseudo-random payloads, in writes of
    /// random size with random pauses, to receivers on core 0 that share a tiny pool (8 x 512,
    /// limit 32: it grows to three groups), hold chunks, release them in scrambled order, and
    /// take them one by one or in batches.
    func stressRun(
        connections: Int, perConnection: Int, bundles: Bool, seed: UInt64, count: Int = 8, limit: Int = 32, maxWrite: UInt64 = 9000,
        maxHeld: Int = 6
    ) async throws -> StressOutcome {
        var configuration = RuntimeConfiguration(
            cores: .count(2), receiveBufferCount: count, receiveBufferSize: 512, receiveBufferLimit: limit)
        configuration.receiveBundles = bundles
        let runtime = try Runtime(configuration)
        defer { runtime.shutdown(gracePeriod: .milliseconds(200)) }
        let kernelHasBundles = runtime.capabilities.cores[0].receiveBundles
        return try await runtime.handle.spawn(on: .core(0)) { () -> StressOutcome in
            let listener = try TCPListener.bind(.loopback(port: 0), backlog: 256)
            let address = try listener.localAddress
            var senders: [JoinHandle<Void>] = []
            var consumers: [JoinHandle<String?>] = []
            for index in 0..<connections {
                let payload = pseudoRandomBytes(perConnection, seed: seed &+ UInt64(index) &* 7919)
                senders.append(
                    spawn(on: .core(1)) {
                        let client = try await TCPStream.connect(to: address)
                        var generator = SeededGenerator(seed: seed &+ 1000 &+ UInt64(index))
                        var offset = 0
                        while offset < payload.count {
                            let size = min(payload.count - offset, 1 + Int(generator.next() % maxWrite))
                            try await client.writeAll(IOBuffer(Array(payload[offset..<(offset + size)])))
                            offset += size
                            if generator.next() % 8 == 0 { try await sleep(for: .microseconds(200)) }
                        }
                        try await client.close()
                    })
                let connection = try await listener.accept()
                consumers.append(
                    spawn { () -> String? in
                        var generator = SeededGenerator(seed: seed &+ 5000 &+ UInt64(index))
                        var held: [ReceivedBuffer] = []
                        var received: [UInt8] = []
                        received.reserveCapacity(payload.count)
                        var chunks = try connection.receivedChunks().makeAsyncIterator()
                        while true {
                            let batch: [ReceivedBuffer]
                            if generator.next() % 2 == 0 {
                                batch = try await chunks.nextBatch(maxCount: 1 + Int(generator.next() % 8))
                            } else {
                                batch = try await chunks.next().map { [$0] } ?? []
                            }
                            if batch.isEmpty { break }
                            for chunk in batch {
                                received += chunk.bytes
                                held.append(chunk)
                            }
                            if held.count >= maxHeld || generator.next() % 3 == 0 {
                                held.shuffle(using: &generator)
                                held.removeLast(Int(generator.next() % UInt64(held.count)) + 1)
                            }
                            // Never wait holding as many buffers as could starve the pool for good.
                            while !held.isEmpty && held.count >= maxHeld { held.remove(at: Int(generator.next() % UInt64(held.count))) }
                            if generator.next() % 32 == 0 { try await sleep(for: .milliseconds(1)) }
                        }
                        held.removeAll()
                        try await connection.close()
                        if let difference = firstDifference(received, payload) {
                            return "connection \(index): first difference at byte \(difference) of \(payload.count) (\(received.count) received)"
                        }
                        return nil
                    })
            }
            try await listener.close()
            let mismatches = try await withTimeout(.seconds(60)) { () -> [String] in
                for sender in senders { try await sender.value }
                var mismatches: [String] = []
                for consumer in consumers { if let problem = try await consumer.value { mismatches.append(problem) } }
                return mismatches
            }
            // Let any chunk released elsewhere come back.
            try await sleep(for: .milliseconds(50))
            let pool = Core.current!.receiveBuffers
            return StressOutcome(
                mismatches: mismatches, onLoan: pool.lent, bundled: pool.bundledCompletions,
                groups: pool.groups.map(\.count), kernelHasBundles: kernelHasBundles)
        }.value
    }

    /// Runs `stressRounds` rounds of `run(round)` with bundles on: every byte in order, every
    /// buffer back, bundles in use where the kernel has them; stops at the first round that
    /// lost or mixed bytes.
    func expectBundleRounds(_ run: (UInt64) async throws -> StressOutcome) async throws {
        for round in 0..<stressRounds {
            let outcome = try await run(UInt64(round))
            #expect(outcome.mismatches.isEmpty, "round \(round): \(outcome.mismatches.prefix(4))")
            #expect(outcome.onLoan == 0, "round \(round): \(outcome.onLoan) buffers still on loan")
            #expect(!outcome.kernelHasBundles || outcome.bundled > 0, "round \(round): no bundle was received")
            if !outcome.mismatches.isEmpty { break }
        }
    }

    @Test("stress: 16 connections on one core, 8 x 512-byte pool growing to 32, bundles on: every byte in order, every buffer back")
    func stressBundlesGrowingPool() async throws {
        try await expectBundleRounds { round in
            try await stressRun(connections: 16, perConnection: 1 << 20, bundles: true, seed: 77 &+ round)
        }
    }

    @Test("stress: the same with bundles off")
    func stressWithoutBundles() async throws {
        let outcome = try await stressRun(connections: 16, perConnection: 1 << 20, bundles: false, seed: 77)
        #expect(outcome.mismatches.isEmpty, "\(outcome.mismatches.prefix(4))")
        #expect(outcome.onLoan == 0, "\(outcome.onLoan) buffers still on loan")
        #expect(outcome.bundled == 0)
    }

    @Test("stress: 24 connections on a fixed 4 x 512 pool (queue limit 2), bundles on")
    func stressTinyFixedPool() async throws {
        try await expectBundleRounds { round in
            try await stressRun(
                connections: 24, perConnection: 512 << 10, bundles: true, seed: 900 &+ round, count: 4, limit: 4, maxWrite: 3000,
                maxHeld: 0)
        }
    }

    @Test("stress: 32 connections on 16 x 512 growing to 64, bundles on")
    func stressWideGrowingPool() async throws {
        try await expectBundleRounds { round in
            try await stressRun(
                connections: 32, perConnection: 512 << 10, bundles: true, seed: 4400 &+ round, count: 16, limit: 64, maxWrite: 20000,
                maxHeld: 2)
        }
    }
}
