import Foundation
import Glibc
import MiniRedis
import Testing
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
        let server = try miniRedisProcess(["--timeout", "1", "--maxclients", "3"])
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
        #expect(status == 0)
        #expect(log.contains("idle for 1 s (timeout)"), "\(log)")
    }
}
