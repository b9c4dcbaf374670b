import Foundation
import Glibc
import MiniRedis
import Synchronization
import Testing
import TorusTestSupport

@testable import Torus

extension RuntimeSuite.HostileRedisClients {
    @Test("over maxclients a new client gets redis's error and is closed; a freed slot serves again")
    func maxClients() async throws {
        let runtime = try makeRuntime()
        defer { runtime.shutdown() }
        let (address, server) = try startMiniRedis(on: runtime, server: Server(maxClients: 2))
        defer { server.cancel() }
        try await runtime.handle.spawn {
            let first = try await Client.connect(to: address)
            let second = try await Client.connect(to: address)
            #expect(try await first.ping() == Array("PONG".utf8))
            #expect(try await second.ping() == Array("PONG".utf8))
            let third = try await TCPStream.connect(to: address)
            let refusal = try await withTimeout(.seconds(5)) { try await third.readToEnd() }
            #expect(String(decoding: refusal, as: UTF8.self) == "-ERR max number of clients reached\r\n")
            try await third.close()
            try await first.close()
            // The slot comes back once the server has seen the close.
            var served = false
            for _ in 0..<100 where !served {
                let next = try await Client.connect(to: address)
                served = (try? await next.ping()) == Array("PONG".utf8)
                try await next.close()
                if !served { try await sleep(for: .milliseconds(10)) }
            }
            #expect(served)
            try await second.close()
        }.value
    }

    @Test("--timeout closes a client that stalled mid-command; subscribers and active clients stay; --maxclients refuses")
    func idleTimeout() async throws {
        let server = try miniRedisProcess(["--timeout", "1", "--maxclients", "3", "--loglevel", "verbose"])
        let port = server.port
        let runtime = try makeRuntime()
        defer { runtime.shutdown() }
        try await runtime.handle.spawn {
            let stalled = try await TCPStream.connect(to: .loopback(port: port))
            try await stalled.writeAll("*2\r\n$3\r\nGET\r\n$5\r\nhal")
            let subscriber = try await Client.connect(to: .loopback(port: port)).subscribe(to: ["idle"])
            // An active client keeps talking throughout.
            let pinger = spawn { () -> Int in
                let active = try await Client.connect(to: .loopback(port: port))
                var pongs = 0
                for _ in 0..<10 {
                    if try await active.ping() == Array("PONG".utf8) { pongs += 1 }
                    try await sleep(for: .milliseconds(250))
                }
                try await active.close()
                return pongs
            }
            try await sleep(for: .milliseconds(100))
            // Three clients: the cap. A fourth is refused.
            let refused = try await TCPStream.connect(to: .loopback(port: port))
            #expect(String(decoding: try await refused.readToEnd(), as: UTF8.self) == "-ERR max number of clients reached\r\n")
            // The stalled client is closed after one to two idle seconds.
            let started = ContinuousClock.now
            let rest = try await withTimeout(.seconds(5)) { try await stalled.readToEnd() }
            #expect(rest.isEmpty)
            #expect(ContinuousClock.now - started >= .milliseconds(900))
            #expect(try await pinger.value == 10)
            let publisher = try await Client.connect(to: .loopback(port: port))
            #expect(try await publisher.publish("idle", "still subscribed") == 1)
            #expect(try await subscriber.nextMessage()?.content == Array("still subscribed".utf8))
            try await subscriber.close()
            try await publisher.close()
        }.value
        let (status, log) = server.terminate()
        #expect(status == miniRedisStatusAfterSIGTERM)
        // redis logs idle clients at verbose level (swift-log's info), hidden at notice.
        #expect(log.split(separator: "\n").contains { $0.contains(" info mini-redis-server:") && $0.contains("idle for 1 s (timeout)") }, "\(log)")
    }
}

extension RuntimeSuite.HostileRedisClients {
    @Test("redis's size units and client-output-buffer-limit form parse; nonsense does not")
    func limitSyntax() {
        #expect(parseMemorySize("1gb") == 1 << 30)
        #expect(parseMemorySize("512MB") == 512 << 20)
        #expect(parseMemorySize("64k") == 64_000)
        #expect(parseMemorySize("1000") == 1000)
        #expect(parseMemorySize("-1kb") == nil)
        #expect(parseMemorySize("lots") == nil)
        #expect(parseMemorySize("99999999999gb") == nil)
        #expect(OutputBufferLimit(parsing: "32mb 8mb 60") == .pubsub)
        #expect(OutputBufferLimit(parsing: "0 0 0") == .unlimited)
        #expect(OutputBufferLimit(parsing: "32mb 8mb") == nil)
    }

    @Test("a subscriber over the soft output limit for longer than its seconds is disconnected; a short burst is not")
    func softOutputLimit() async throws {
        let runtime = try makeRuntime()
        defer { runtime.shutdown() }
        let logged = Mutex<[String]>([])
        let limit = OutputBufferLimit(hard: 0, soft: 256 << 10, softSeconds: 1)
        let mini = Server(pubsubOutputLimit: limit, log: { _, line in logged.withLock { $0.append(line) } })
        let (address, server) = try startMiniRedis(on: runtime, server: mini)
        defer { server.cancel() }
        let port = try #require(address.port)
        let receivers = try await runtime.handle.spawn { () -> [Int] in
            let stalled = try await stalledSubscriber(port: port, channel: "slow")
            let publisher = try await Client.connect(to: address)
            let message = [UInt8](repeating: 2, count: 64 << 10)
            var receivers: [Int] = []
            // 10 MB at once (the kernel buffers a few): over the soft limit, but not for a second.
            for _ in 0..<160 { receivers.append(try await publisher.publish("slow", message)) }
            try await sleep(for: .milliseconds(1200))
            // Still over it a second later: the next message finds it over for too long.
            for _ in 0..<4 { receivers.append(try await publisher.publish("slow", message)) }
            try await publisher.close()
            _ = stalled
            return receivers
        }.value
        #expect(receivers.prefix(160).allSatisfy { $0 == 1 }, "disconnected before its second was up: \(receivers)")
        #expect(receivers.last == 0, "\(receivers)")
        for _ in 0..<100 where logged.withLock({ $0.isEmpty }) { usleep(10_000) }
        #expect(logged.withLock { $0.first?.contains("output buffer limit") == true })
    }
}
