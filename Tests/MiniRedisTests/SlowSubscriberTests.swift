import Foundation
import Glibc
import MiniRedis
import Testing
import TorusTestSupport

@testable import Torus

/// A subscriber that never reads: connects, subscribes to `channel` and reads its confirmation
/// only; a small receive buffer makes its socket fill early.
func stalledSubscriber(port: UInt16, channel: String) async throws -> TCPStream {
    let raw = try await TCPStream.connect(to: .loopback(port: port))
    var size: Int32 = 4096
    setsockopt(raw.descriptor.rawValue, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
    try await raw.writeAll(Command.subscribe(channels: [Array(channel.utf8)]).frame.encoded)
    let confirmation = Frame.array([.bulk("subscribe"), .bulk(channel), .integer(1)]).encoded
    _ = try await raw.readExactly(confirmation.count)
    return raw
}

extension RuntimeSuite.HostileRedisClients {
    @Test("a subscriber that never reads is disconnected at the pubsub output limit and logged; PUBLISH never blocks")
    func slowSubscriber() async throws {
        let server = try miniRedisProcess()
        let port = server.port
        let pid = server.process.processIdentifier
        let runtime = try makeRuntime()
        defer { runtime.shutdown() }
        let residentBefore = try processResidentBytes(pid)
        let (receivers, slowest) = try await runtime.handle.spawn { () -> ([Int], Duration) in
            let stalled = try await stalledSubscriber(port: port, channel: "firehose")
            let publisher = try await Client.connect(to: .loopback(port: port))
            let message = [UInt8](repeating: UInt8(ascii: "m"), count: 1 << 20)
            var receivers: [Int] = []
            var slowest = Duration.zero
            // 120 MB for a subscriber whose socket holds a few KB: past the 32 MB hard limit.
            for _ in 0..<120 {
                let started = ContinuousClock.now
                receivers.append(try await publisher.publish("firehose", message))
                slowest = max(slowest, ContinuousClock.now - started)
            }
            try await publisher.close()
            _ = stalled
            return (receivers, slowest)
        }.value
        #expect(receivers.first == 1)
        #expect(receivers.last == 0, "the subscriber was not disconnected")
        #expect(slowest < .seconds(1), "a PUBLISH waited \(slowest)")
        let growth = try processResidentBytes(pid) - residentBefore
        #expect(growth < 100 << 20, "the server grew by \(growth >> 20) MB")
        let (status, log) = server.terminate()
        #expect(status == miniRedisStatusAfterSIGTERM)
        // At warning level, as redis logs it.
        #expect(log.split(separator: "\n").contains { $0.contains(" warning mini-redis-server:") && $0.contains("output buffer limit") }, "\(log)")
    }

    @Test("SIGTERM while a subscriber's socket is full: the server exits within its grace period")
    func shutdownWithFullSubscriber() async throws {
        let server = try miniRedisProcess()
        let port = server.port
        let runtime = try makeRuntime()
        defer { runtime.shutdown() }
        let stalled = try await runtime.handle.spawn { () -> TCPStream in
            let stalled = try await stalledSubscriber(port: port, channel: "news")
            let publisher = try await Client.connect(to: .loopback(port: port))
            // 8 MB: under every limit, far more than the socket holds: the writer is stuck.
            for _ in 0..<8 { #expect(try await publisher.publish("news", [UInt8](repeating: 1, count: 1 << 20)) == 1) }
            try await publisher.close()
            return stalled
        }.value
        kill(server.process.processIdentifier, SIGTERM)
        #expect(waitForExit(server, within: .seconds(5), "mini-redis-server after SIGTERM") == miniRedisStatusAfterSIGTERM)
        _ = stalled
    }

    @Test("a 50,000-channel SUBSCRIBE costs hundreds of bytes per channel, not kilobytes")
    func manyChannelsMemory() async throws {
        let server = try miniRedisProcess()
        let port = server.port
        let pid = server.process.processIdentifier
        let runtime = try makeRuntime()
        defer { runtime.shutdown() }
        let count = 50_000
        let residentBefore = try processResidentBytes(pid)
        let stream = try await runtime.handle.spawn { () -> TCPStream in
            let raw = try await TCPStream.connect(to: .loopback(port: port))
            let channels = (0..<count).map { Array("channel-\($0)".utf8) }
            try await raw.writeAll(Command.subscribe(channels: channels).frame.encoded)
            let reader = FrameReader(raw)
            for index in 0..<count {
                let confirmation = try await reader.readFrame()
                if index == count - 1 { #expect(confirmation == .array([.bulk("subscribe"), .bulk("channel-\(index)"), .integer(Int64(count))])) }
            }
            return raw
        }.value
        let growth = try processResidentBytes(pid) - residentBefore
        // Was about 11 KB per channel (+557 MB); redis needs a few hundred bytes.
        #expect(growth / count < 1_000, "\(growth / count) bytes per channel")
        _ = stream
        #expect(server.terminate().0 == miniRedisStatusAfterSIGTERM)
    }
}

extension RuntimeSuite.HostileRedisClients {
    @Test("a subscriber that half-closes with a full socket is dropped at once (its client slot comes back), as redis does at end of stream")
    func subscriberEndOfStream() async throws {
        let runtime = try makeRuntime()
        defer { runtime.shutdown() }
        let (address, server) = try startMiniRedis(on: runtime, server: Server(maxClients: 2))
        defer { server.cancel() }
        let port = try #require(address.port)
        let served = try await runtime.handle.spawn { () -> Bool in
            let stalled = try await stalledSubscriber(port: port, channel: "full")
            let publisher = try await Client.connect(to: address)
            for _ in 0..<8 { _ = try await publisher.publish("full", [UInt8](repeating: 3, count: 1 << 20)) }
            // The subscriber says it is done, and never reads what is waiting for it.
            try await stalled.shutdown(.write)
            var served = false
            for _ in 0..<100 where !served {
                try await sleep(for: .milliseconds(20))
                let probe = try await TCPStream.connect(to: address)
                try await probe.writeAll(Command.ping(message: nil).frame.encoded)
                served = (try? await withTimeout(.seconds(1)) { try await probe.readExactly(7) }) == Array("+PONG\r\n".utf8)
                try await probe.close()
            }
            try await publisher.close()
            _ = stalled
            return served
        }.value
        #expect(served, "the half-closed subscriber kept its client slot")
    }
}
