import Foundation
import Logging
import Testing
import TorusTestSupport

@testable import Torus

extension RuntimeSuite.ProvidedBuffers {
    @Test(
        "48 busy connections on 8 provided buffers, consumers holding each chunk 1 ms: every byte served, the pool grows to its limit of 16 and no further"
    )
    func busyConnectionsGrowThePool() async throws {
        let log = LogStore()
        let runtime = try Runtime(
            RuntimeConfiguration(
                cores: .count(2), receiveBufferCount: 8, receiveBufferSize: 1024, receiveBufferLimit: 16, logger: log.logger))
        defer { runtime.shutdown(gracePeriod: .milliseconds(200)) }
        let connections = 48
        let perConnection = 64 << 10
        let before = await runtime.handle.metrics().cores[0]
        let received = try await runtime.handle.spawn(on: .core(0)) { () -> [Int] in
            let listener = try TCPListener.bind(.loopback(port: 0), backlog: 256)
            let address = try listener.localAddress
            var consumers: [JoinHandle<Int>] = []
            var senders: [JoinHandle<Void>] = []
            for index in 0..<connections {
                // The peers write from core 1, so they never wait on this core's consumers.
                senders.append(
                    spawn(on: .core(1)) {
                        let client = try await TCPStream.connect(to: address)
                        let chunk = IOBuffer(Array(repeating: UInt8(index), count: 16 << 10))
                        for _ in 0..<(perConnection / chunk.count) { try await client.writeAll(chunk) }
                        try await client.close()
                    })
                let connection = try await listener.accept()
                consumers.append(
                    spawn { () -> Int in
                        var bytes = 0
                        for try await chunk in try connection.receivedChunks() {
                            // Hold the buffer a little while, as a consumer that works on it would.
                            try await sleep(for: .milliseconds(1))
                            let intact = chunk.withUnsafeBytes { $0.allSatisfy { $0 == UInt8(index) } }
                            bytes += intact ? chunk.count : 0
                        }
                        try await connection.close()
                        return bytes
                    })
            }
            // A connection starved for good would hang here: the timeout fails the test.
            return try await withTimeout(.seconds(30)) {
                for sender in senders { try await sender.value }
                var received: [Int] = []
                for consumer in consumers { received.append(try await consumer.value) }
                return received
            }
        }.value
        let after = await runtime.handle.metrics().cores[0]
        #expect(received == Array(repeating: perConnection, count: connections))
        #expect(before.receiveBuffers == 0, "no receive yet, no buffer")
        // 8, then a group of 8: at the limit (unbounded, these consumers take it to 32 or more).
        #expect(after.receiveBufferGrowths == 1, "\(after)")
        #expect(after.receiveBuffers == 16, "\(after)")
        #expect(after.receiveBuffersOnLoan == 0, "every buffer came back: \(after)")
        let grown = log.messages(at: .notice).filter { $0.contains("provided receive buffer") }
        #expect(grown.count == Int(after.receiveBufferGrowths), "one notice per growth: \(grown)")
    }

    @Test("buffers counted before and after growth; at the limit a starved receive waits, and is served when one buffer comes back")
    func growthThenWaitAtTheLimit() async throws {
        let log = LogStore()
        let runtime = try Runtime(
            RuntimeConfiguration(
                cores: .count(2), receiveBufferCount: 4, receiveBufferSize: 1024, receiveBufferLimit: 8, logger: log.logger))
        defer { runtime.shutdown(gracePeriod: .milliseconds(200)) }
        let handle = runtime.handle
        let (snapshots, heardWhileFull, heardAfterReturn) = try await runtime.handle.spawn(on: .core(0)) {
            () -> ([RuntimeMetrics.CoreMetrics], Bool, [UInt8]?) in
            var snapshots = [await handle.metrics().cores[0]]
            let listener = try TCPListener.bind(.loopback(port: 0))
            let address = try listener.localAddress
            // A consumer that keeps every chunk: 8 messages, each its own receive and buffer.
            let hoarder = try await TCPStream.connect(to: address)
            let hoarded = try await listener.accept()
            var held: [ReceivedBuffer] = []
            var chunks = try hoarded.receivedChunks().makeAsyncIterator()
            for index in 0..<8 {
                try await hoarder.writeAll("message \(index)")
                // Without growth the 5th would wait for ever: fail instead.
                guard let chunk = try await withTimeout(.seconds(2), { try await chunks.next() }) else { break }
                held.append(chunk)
                if index == 3 { snapshots.append(await handle.metrics().cores[0]) }  // first group all lent
            }
            #expect(held.map { String(decoding: $0.bytes, as: UTF8.self) } == (0..<8).map { "message \($0)" })
            snapshots.append(await handle.metrics().cores[0])  // grown once, all 8 lent
            // Another connection speaks: no buffer, no room to grow.
            let client = try await TCPStream.connect(to: address)
            let connection = try await listener.accept()
            try await client.writeAll("hello")
            let heard = SharedCounter()
            let listening = spawn { () -> [UInt8]? in
                for try await chunk in try connection.receivedChunks() {
                    heard.increment()
                    return chunk.bytes
                }
                return nil
            }
            try await sleep(for: .milliseconds(300))
            let heardWhileFull = heard.value > 0
            snapshots.append(await handle.metrics().cores[0])  // waiting at the limit
            // One buffer comes back: the waiting receive takes it.
            held.removeFirst()
            let after = try? await withTimeout(.seconds(2)) { try await listening.value }
            held.removeAll()
            _ = chunks
            try await hoarder.close()
            try await client.close()
            try await sleep(for: .milliseconds(10))
            snapshots.append(await handle.metrics().cores[0])  // everything back
            return (snapshots, heardWhileFull, after ?? nil)
        }.value
        #expect(!heardWhileFull)
        #expect(heardAfterReturn == Array("hello".utf8))
        let counts = snapshots.map { [$0.receiveBuffers, $0.receiveBuffersOnLoan, Int($0.receiveBufferGrowths)] }
        #expect(
            counts == [
                [0, 0, 0],  // before the first receive
                [4, 4, 0],  // the first group, every buffer on loan
                [8, 8, 1],  // the 5th message found none: a group of 4 more
                [8, 8, 1],  // at the limit: the other connection waits, no growth
                [8, 0, 1],  // all back, the pool keeps its size
            ], "\(snapshots.map(\.description))")
        #expect(snapshots[3].receiveBufferWaits >= 1)
        #expect(log.messages(at: .notice).count { $0.contains("added 4, now 8 of at most 8") } == 1)
        #expect(log.messages(at: .warning).count { $0.contains("receives wait for one to come back") } == 1)
    }

    @Test("receiveBufferLimit below receiveBufferCount is refused")
    func limitBelowCountIsRefused() {
        #expect(throws: RuntimeError.self) {
            try Runtime(RuntimeConfiguration(receiveBufferCount: 64, receiveBufferLimit: 32))
        }
    }
}
