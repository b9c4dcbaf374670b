import Foundation
import Glibc
import MiniRedis
import Testing
import TorusTestSupport

@testable import Torus

/// mini-redis's replies go through the stream's send queue: a client that half-closes right
/// after its commands still gets every reply (also with the server's sends cut short), and a
/// client that pipelines and never reads keeps the server's memory bounded.
extension RuntimeSuite {
    @Suite("mini-redis: queued replies")
    struct SendQueueRedisTests {
        static func commands(_ count: Int) -> [UInt8] {
            var bytes: [UInt8] = []
            for index in 0..<count {
                bytes += index % 2 == 0 ? Array("*1\r\n$4\r\nPING\r\n".utf8) : Array("*2\r\n$3\r\nGET\r\n$1\r\nk\r\n".utf8)
            }
            return bytes
        }

        @Test(
            "a client that half-closes right after 20,000 pipelined commands gets every reply, in order, also with every server send cut short",
            arguments: [false, true])
        func halfCloseGetsEveryReply(shortSends: Bool) async throws {
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            let (address, server) = try startMiniRedis(on: runtime)
            defer { server.cancel() }
            let count = 20_000
            let hitsBefore = FaultInjection.injectedCount
            let received = try await runtime.handle.spawn(on: .core(1)) { () -> [UInt8] in
                let setup = try await Client.connect(to: address)
                try await setup.set("k", "value")
                try await setup.close()
                let raw = try await TCPStream.connect(to: address)
                // Accepted streams carry no address for a rule's subject: the rules hit every
                // send, installed once this client is done sending.
                let rules =
                    shortSends ? [FaultRule("send", .short(13), times: .max), FaultRule("sendmsg", .short(13), times: .max)] : []
                try await raw.writeAll(SendQueueRedisTests.commands(count))
                try await raw.shutdown(.write)
                return try await FaultInjection.with(rules) {
                    let received = try await withTimeout(.seconds(20)) { try await raw.readToEnd() }
                    try await raw.close()
                    return received
                }
            }.value
            let hits = FaultInjection.injectedCount - hitsBefore
            #expect(shortSends ? hits > 1_000 : hits == 0, "short sends injected: \(hits) (shortSends \(shortSends))")
            var expected: [UInt8] = []
            for index in 0..<count { expected += index % 2 == 0 ? Array("+PONG\r\n".utf8) : Array("$5\r\nvalue\r\n".utf8) }
            #expect(received.count == expected.count, "\(received.count) bytes of replies, \(expected.count) expected")
            #expect(firstDifference(received, expected) == nil)
        }

        @Test(
            "a client that pipelines 20,000 GETs of a 2 KB value (40 MB of replies) and does not read: the session's send queue stays bounded, and all replies come once it reads"
        )
        func pipelinerThatDoesNotRead() async throws {
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            let count = 20_000
            let value = String(repeating: "v", count: 2000)
            let (queued, received) = try await runtime.handle.spawn(on: .core(0)) { () -> (Int, Int) in
                // The session runs here, on a stream this test holds, so that its queue can be
                // looked at (on its core).
                let mini = Server()
                let (client, connection) = try await connectedPair()
                let session = spawn { await mini.serve(connection) }
                let reading = spawn(on: .core(1)) { () -> Int in
                    var request: [UInt8] = []
                    request += Frame.array([.bulk("SET"), .bulk("k"), .bulk(value)]).encoded
                    for _ in 0..<count { request += Array("*2\r\n$3\r\nGET\r\n$1\r\nk\r\n".utf8) }
                    // The server answers what it can; the rest of the request waits in the sockets.
                    let writing = spawn { try await client.writeAll(request) }
                    try await sleep(for: .seconds(1))
                    var received = 0
                    let sink = IOBuffer(capacity: 256 << 10)
                    let reply = 2000 + "$2000\r\n\r\n".utf8.count
                    try await withTimeout(.seconds(20)) {
                        while received < 5 + count * reply {
                            sink.clear()
                            let read = try await client.read(into: sink)
                            if read == 0 { break }
                            received += read
                        }
                    }
                    try await writing.value
                    try await client.close()
                    return (received - 5) / reply
                }
                try await sleep(for: .milliseconds(800))
                let queued = try connection.sendQueue().queuedByteCount
                let received = try await reading.value
                try await session.value
                return (queued, received)
            }.value
            // The limit (64 KiB) plus the replies to one read's requests (16 KiB of them).
            #expect(queued > 0 && queued < 2 << 20, "the session's queue held \(queued) bytes for a client that does not read")
            #expect(received == count)
        }

        @Test(
            "replies queued before a SUBSCRIBE in the same segment arrive before its confirmation, and messages after it, with the server's sends cut short"
        )
        func repliesBeforeSubscriberMode() async throws {
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            let (address, server) = try startMiniRedis(on: runtime)
            defer { server.cancel() }
            let count = 1000
            let received = try await runtime.handle.spawn(on: .core(1)) { () -> [UInt8] in
                let raw = try await TCPStream.connect(to: address)
                var request: [UInt8] = []
                for _ in 0..<count { request += Array("*1\r\n$4\r\nPING\r\n".utf8) }
                request += Array("*2\r\n$9\r\nSUBSCRIBE\r\n$2\r\nch\r\n".utf8)
                return try await FaultInjection.with([FaultRule("send", .short(3), times: .max), FaultRule("sendmsg", .short(3), times: .max)]) {
                    try await raw.writeAll(request)
                    let confirmation = Array("*3\r\n$9\r\nsubscribe\r\n$2\r\nch\r\n:1\r\n".utf8)
                    let received = try await withTimeout(.seconds(10)) { try await raw.readExactly(count * 7 + confirmation.count) }
                    let publisher = try await Client.connect(to: address)
                    _ = try await publisher.publish("ch", "hello")
                    let message = Array("*3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$5\r\nhello\r\n".utf8)
                    let after = try await withTimeout(.seconds(10)) { try await raw.readExactly(message.count) }
                    try await publisher.close()
                    try await raw.close()
                    return received + after
                }
            }.value
            var expected: [UInt8] = []
            for _ in 0..<count { expected += Array("+PONG\r\n".utf8) }
            expected += Array("*3\r\n$9\r\nsubscribe\r\n$2\r\nch\r\n:1\r\n".utf8)
            expected += Array("*3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$5\r\nhello\r\n".utf8)
            #expect(firstDifference(received, expected) == nil, "\(String(decoding: received.suffix(120), as: UTF8.self))")
        }

        @Test("a protocol error after 1,000 pipelined commands: their replies, then the error, then the close, with the server's sends cut short")
        func repliesBeforeProtocolError() async throws {
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            let (address, server) = try startMiniRedis(on: runtime)
            defer { server.cancel() }
            let count = 1000
            let received = try await runtime.handle.spawn(on: .core(1)) { () -> String in
                let raw = try await TCPStream.connect(to: address)
                var request: [UInt8] = []
                for _ in 0..<count { request += Array("*1\r\n$4\r\nPING\r\n".utf8) }
                request += Array("*x\r\n".utf8)
                return try await FaultInjection.with([FaultRule("send", .short(3), times: .max), FaultRule("sendmsg", .short(3), times: .max)]) {
                    try await raw.writeAll(request)
                    let received = try await withTimeout(.seconds(10)) { try await raw.readToEnd() }
                    try await raw.close()
                    return String(decoding: received, as: UTF8.self)
                }
            }.value
            let pongs = String(repeating: "+PONG\r\n", count: count)
            #expect(received.hasPrefix(pongs + "-ERR Protocol error"), "\(received.suffix(200))")
        }

        @Test(
            "redis-cli reading 4,000 commands from stdin, against a mini-redis-server whose every send is cut to 5 bytes (TORUS_FAULTS): every reply",
            .enabled(if: RuntimeSuite.MiniRedisServer.redisCLI != nil, "redis-cli is not installed"))
        func redisCLIWithShortSends() throws {
            // (Not `--pipe`: it ends with an ECHO, which mini-redis does not know.)
            let server = try ListeningProcess(
                "mini-redis-server", ["--port", "0", "--cores", "2"], environment: ["TORUS_FAULTS": "send:short=5*all;sendmsg:short=5*all"])
            let directory = try makeTemporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: directory) }
            var commands = ""
            var expected = ""
            for index in 0..<2_000 {
                commands += "SET key\(index) value-\(String(repeating: "x", count: index % 50))-\(index)\nGET key\(index)\n"
                expected += "OK\nvalue-\(String(repeating: "x", count: index % 50))-\(index)\n"
            }
            try commands.write(toFile: directory + "/commands", atomically: true, encoding: .utf8)
            let cli = RuntimeSuite.MiniRedisServer.redisCLI!
            let outcome = try runProcess("/bin/sh", ["-c", "'\(cli)' -p \(server.port) < '\(directory)/commands'"])
            #expect(outcome.status == 0, "\(outcome.stderr)")
            #expect(outcome.stdout == expected, "\(outcome.stdout.suffix(200))")
            _ = server.terminate()
        }

        @Test(
            "a mini-redis-server whose every send fails (TORUS_FAULTS ECONNRESET): redis-cli is told the connection closed at once, not left waiting",
            .enabled(if: RuntimeSuite.MiniRedisServer.redisCLI != nil, "redis-cli is not installed"))
        func failingSendsCloseTheConnection() throws {
            let server = try ListeningProcess(
                "mini-redis-server", ["--port", "0", "--cores", "1"], environment: ["TORUS_FAULTS": "send:ECONNRESET*all;sendmsg:ECONNRESET*all"])
            let cli = RuntimeSuite.MiniRedisServer.redisCLI!
            let started = ContinuousClock.now
            // The failed reply ends the queue and shuts the socket down; the session's read sees
            // the end and closes. Before, the session waited for a next request for ever.
            let outcome = try runProcess("/usr/bin/timeout", ["10", cli, "-p", "\(server.port)", "PING"])
            let took = ContinuousClock.now - started
            #expect(outcome.status != 124, "redis-cli waited 10 s for a reply that could not be sent")
            #expect(!outcome.stdout.contains("PONG"), "\(outcome.stdout)")
            #expect(took < .seconds(5), "took \(took)")
            _ = server.terminate()
        }
    }
}
