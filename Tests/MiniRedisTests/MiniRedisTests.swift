import Foundation
import Glibc
import MiniRedis
import Testing
import TorusTestSupport

@testable import Torus

/// Starts a mini-redis server on an ephemeral loopback port inside `runtime`; returns its address
/// and the task to cancel.
func startMiniRedis(on runtime: Runtime, server mini: Server = Server()) throws -> (SocketAddress, JoinHandle<Void>) {
    let bound = ConditionLock<SocketAddress?>(nil)
    let server = runtime.handle.spawn {
        try await mini.run(on: .loopback(port: 0)) { address in bound.withLockBroadcasting { $0 = address } }
    }
    return (bound.wait { $0 }!, server)
}

@Suite("RESP codec")
struct RESPCodecTests {
    let samples: [Frame] = [
        .simple("OK"), .error("ERR nope"), .integer(-42), .integer(Int64.max), .bulk("hello"), .bulk([]),
        .bulk([0, 13, 10, 255]), .null, .array([]), .array([.bulk("SET"), .bulk("k"), .array([.integer(1), .null])]),
    ]

    @Test("every frame type survives encode then parse, and every strict prefix asks for more")
    func roundTrip() throws {
        let parser = FrameParser()
        for frame in samples {
            let bytes = frame.encoded
            #expect(try parser.parse(bytes) == .frame(frame, consumed: bytes.count))
            for cut in 0..<bytes.count {
                #expect(try parser.parse(Array(bytes[..<cut])) == .incomplete, "prefix \(cut) of \(frame)")
            }
        }
    }

    @Test("requests: arrays of bulk strings come back as words, other frames as frames, prefixes ask for more")
    func requests() throws {
        func request(_ bytes: [UInt8]) throws -> (FrameParser.Request, consumed: Int)? {
            try bytes.withUnsafeBytes { raw in try RequestParser.request(in: raw) }
        }
        let set = Command.set(key: Array("k".utf8), value: [0, 13, 10, 255], expiry: .milliseconds(1500)).frame.encoded
        let parsed = try #require(try request(set + Array("*1\r\n".utf8)))
        #expect(parsed.consumed == set.count)
        #expect(parsed.0 == .words([Array("SET".utf8), Array("k".utf8), [0, 13, 10, 255], Array("PX".utf8), Array("1500".utf8)]))
        for cut in 0..<set.count { #expect(try request(Array(set[..<cut])) == nil, "prefix \(cut)") }
        #expect(try request(Array("PING\r\n".utf8))?.0 == .frame(.array([.bulk("PING")])))
        // As in redis: array elements must be bulk strings; empty and null arrays are skipped.
        #expect(throws: ProtocolError("expected '$', got ':'")) { try request(Array("*2\r\n$3\r\nGET\r\n:7\r\n".utf8)) }
        #expect(try request(Array("*0\r\n*-1\r\nPING\r\n".utf8))?.0 == .frame(.array([.bulk("PING")])))
        #expect(try Command(FrameParser.Request.frame(.array([.bulk("GET"), .integer(7)]))) == .get(key: Array("7".utf8)))
        #expect(throws: ProtocolError("invalid bulk length")) { try request(Array("*1\r\n$abc\r\n".utf8)) }
        #expect(throws: ProtocolError("bulk string not terminated by CRLF")) { try request(Array("*1\r\n$3\r\nabcd\r\n".utf8)) }
    }

    @Test("inline commands, as typed into telnet")
    func inline() throws {
        let outcome = try FrameParser().parse(Array("SET  key value\r\nGET".utf8))
        #expect(outcome == .frame(.array([.bulk("SET"), .bulk("key"), .bulk("value")]), consumed: 16))
    }

    @Test(
        "malformed input is a ProtocolError naming the problem",
        arguments: [
            ("*1\r\n$abc\r\n", "invalid bulk length"), ("*x\r\n", "invalid multibulk length"),
            ("$3\r\nabcd\r\n", "bulk string not terminated by CRLF"), ("*1\r\n!\r\n", "expected '$', got '!'"),
            ("$-5\r\n", "invalid bulk length"), (":12a\r\n", "invalid integer"), ("+OK\rX", "expected LF after CR"),
            ("$999999999999\r\n", "invalid bulk length"),
        ])
    func malformed(input: String, reason: String) {
        #expect(throws: ProtocolError(reason)) { try FrameParser().parse(Array(input.utf8)) }
    }

    @Test("commands decode with redis's error messages")
    func commands() throws {
        func command(_ words: String...) throws(CommandError) -> Command {
            try Command(.array(words.map { .bulk($0) }))
        }
        #expect(try command("set", "k", "v", "EX", "10") == .set(key: Array("k".utf8), value: Array("v".utf8), expiry: .seconds(10)))
        #expect(try command("SET", "k", "v", "px", "5") == .set(key: Array("k".utf8), value: Array("v".utf8), expiry: .milliseconds(5)))
        #expect(throws: CommandError("ERR wrong number of arguments for 'get' command")) { try command("GET") }
        #expect(throws: CommandError("ERR syntax error")) { try command("SET", "k", "v", "KEEPTTL") }
        #expect(throws: CommandError("ERR invalid expire time in 'set' command")) { try command("SET", "k", "v", "EX", "0") }
        #expect(throws: CommandError("ERR value is not an integer or out of range")) { try command("SET", "k", "v", "EX", "soon") }
        #expect(throws: CommandError("ERR unknown command 'FLY', with args beginning with: 'away'")) { try command("FLY", "away") }
    }
}

extension RuntimeSuite {
    @Suite("mini-redis")
    struct MiniRedisServer {
        @Test("GET, SET with expiry, DEL, PING, large values, pipelined commands")
        func keyValue() async throws {
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            let (address, server) = try startMiniRedis(on: runtime)
            defer { server.cancel() }
            try await runtime.handle.spawn {
                let client = try await Client.connect(to: address)
                #expect(try await client.ping() == Array("PONG".utf8))
                #expect(try await client.get("missing") == nil)
                try await client.set("hello", "world")
                #expect(try await client.get("hello") == Array("world".utf8))
                try await client.set("brief", "gone soon", expiringAfter: .milliseconds(30))
                #expect(try await client.get("brief") != nil)
                try await sleep(for: .milliseconds(60))
                #expect(try await client.get("brief") == nil)
                #expect(try await client.delete("hello", "missing") == 1)

                // A 3 MiB value: bigger than every buffer on both sides.
                let large = pseudoRandomBytes(3 << 20, seed: 7)
                try await client.set("large", large)
                #expect(try await client.get("large") == large)

                // 100 commands in one write: 100 replies, in order.
                let raw = try await TCPStream.connect(to: address)
                var batch: [UInt8] = []
                for index in 0..<100 {
                    Command.set(key: Array("k\(index)".utf8), value: Array("\(index)".utf8), expiry: nil).frame.encode(into: &batch)
                }
                try await raw.writeAll(batch)
                let expected = Array(repeating: Frame.simple("OK").encoded, count: 100).flatMap { $0 }
                #expect(try await raw.readExactly(expected.count) == expected)
                #expect(try await client.get("k99") == Array("99".utf8))
                try await raw.close()
                try await client.close()
            }.value
        }

        @Test("PUBLISH reaches subscribers on both cores; UNSUBSCRIBE leaves subscriber mode")
        func publishSubscribe() async throws {
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            let mini = Server()
            let (address, server) = try startMiniRedis(on: runtime, server: mini)
            defer { server.cancel() }
            try await runtime.handle.spawn {
                let first = try await Client.connect(to: address).subscribe(to: ["news", "sport"])
                let second = try await Client.connect(to: address).subscribe(to: ["news"])
                let publisher = try await Client.connect(to: address)
                #expect(try await publisher.publish("news", "extra") == 2)
                #expect(try await publisher.publish("sport", "goal") == 1)
                #expect(try await publisher.publish("weather", "rain") == 0)
                #expect(try await first.nextMessage() == Subscriber.Message(channel: "news", content: Array("extra".utf8)))
                #expect(try await first.nextMessage() == Subscriber.Message(channel: "sport", content: Array("goal".utf8)))
                #expect(try await second.nextMessage() == Subscriber.Message(channel: "news", content: Array("extra".utf8)))
                try await second.unsubscribe()
                #expect(second.channels.isEmpty)
                #expect(try await publisher.publish("news", "later") == 1)
                #expect(try await first.nextMessage()?.content == Array("later".utf8))
                try await first.close()
                try await second.close()
                try await publisher.close()

                // In subscriber mode only (UN)SUBSCRIBE and PING are allowed, as in redis.
                let raw = try await TCPStream.connect(to: address)
                let reader = FrameReader(raw)
                try await raw.writeAll(Command.subscribe(channels: [Array("c".utf8)]).frame.encoded)
                #expect(try await reader.readFrame() == .array([.bulk("subscribe"), .bulk("c"), .integer(1)]))
                try await raw.writeAll(Command.get(key: Array("k".utf8)).frame.encoded + Command.ping(message: nil).frame.encoded)
                #expect(
                    try await reader.readFrame() == .error("ERR Can't execute 'get': only SUBSCRIBE / UNSUBSCRIBE / PING are allowed in this context")
                )
                #expect(try await reader.readFrame() == .array([.bulk("pong"), .bulk("")]))
                try await raw.writeAll(Command.unsubscribe(channels: []).frame.encoded + Command.get(key: Array("k".utf8)).frame.encoded)
                #expect(try await reader.readFrame() == .array([.bulk("unsubscribe"), .bulk("c"), .integer(0)]))
                #expect(try await reader.readFrame() == .null)  // back in normal mode
                try await raw.close()

                // Every subscriber is gone: so is every channel.
                for _ in 0..<100 where mini.pubsub.channelCount > 0 { try await sleep(for: .milliseconds(10)) }
                #expect(mini.pubsub.channelCount == 0)
            }.value
        }

        @Test("malformed RESP gets an error reply and a closed connection; the server keeps serving")
        func malformed() async throws {
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            let (address, server) = try startMiniRedis(on: runtime)
            defer { server.cancel() }
            try await runtime.handle.spawn {
                for garbage in ["*1\r\n$abc\r\n", "*2\r\n$3\r\nGET\r\n:x\r\n", "$-7\r\n", String(repeating: "A", count: 70_000)] {
                    let raw = try await TCPStream.connect(to: address)
                    try await raw.writeAll(garbage)
                    let reply = String(decoding: try await raw.readToEnd(), as: UTF8.self)
                    #expect(reply.hasPrefix("-ERR Protocol error: "), "\(reply)")
                    try await raw.close()
                }
                let client = try await Client.connect(to: address)
                await #expect(throws: ClientError.server(command: "SET", message: "ERR invalid expire time in 'set' command")) {
                    _ = try await client.send(.set(key: [1], value: [2], expiry: .zero))
                }
                #expect(try await client.ping(Array("still here".utf8)) == Array("still here".utf8))
                try await client.close()
            }.value
        }

        @Test("the blocking client works from a plain thread")
        func blockingClient() throws {
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            let (address, server) = try startMiniRedis(on: runtime)
            defer { server.cancel() }
            let client = try BlockingClient(connectingTo: address.description)
            try client.set("sync", "value")
            #expect(try client.get("sync") == Array("value".utf8))
            #expect(try client.delete("sync") == 1)
            #expect(throws: IOError.self) { try BlockingClient(connectingTo: "127.0.0.1:1") }
        }

        static let redisCLI = ["/usr/bin/redis-cli", "/usr/local/bin/redis-cli"].first { FileManager.default.isExecutableFile(atPath: $0) }

        @Test(
            "redis-cli: SET, GET, DEL, PUBLISH to a redis-cli SUBSCRIBE; SIGTERM exits 0",
            .enabled(if: redisCLI != nil, "redis-cli is not installed (apt-get install redis-tools)"))
        func redisCLICompatibility() throws {
            let cli = Self.redisCLI!
            let server = try ListeningProcess("mini-redis-server", ["--port", "0", "--cores", "2"])
            let port = "\(server.port)"
            func redis(_ words: String...) throws -> String {
                let outcome = try runProcess(cli, ["-p", port] + words)
                #expect(outcome.status == 0, "\(outcome.stderr)")
                return outcome.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            }
            #expect(try redis("PING") == "PONG")
            #expect(try redis("SET", "greeting", "hello world") == "OK")
            #expect(try redis("GET", "greeting") == "hello world")
            #expect(try redis("SET", "brief", "x", "PX", "20") == "OK")
            usleep(50_000)
            #expect(try redis("GET", "brief") == "")
            #expect(try redis("DEL", "greeting", "nothing") == "1")
            #expect(try redis("NOSUCH", "thing").hasPrefix("ERR unknown command 'NOSUCH'"))

            // The subscriber writes to a file that is polled (no pipe shared with the server).
            let outputDirectory = try makeTemporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: outputDirectory) }
            let outputPath = outputDirectory + "/subscriber.out"
            _ = FileManager.default.createFile(atPath: outputPath, contents: nil)
            let subscriber = Process()
            subscriber.executableURL = URL(fileURLWithPath: cli)
            subscriber.arguments = ["-p", port, "SUBSCRIBE", "alerts"]
            subscriber.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: outputPath))
            try subscriber.run()
            defer {
                subscriber.terminate()
                subscriber.waitUntilExit()
            }
            func subscriberOutput(containing expected: String) -> String {
                var text = ""
                for _ in 0..<500 where !text.contains(expected) {
                    usleep(10_000)
                    text = (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? ""
                }
                return text
            }
            #expect(subscriberOutput(containing: "alerts\n1\n").contains("subscribe\nalerts\n1\n"))
            #expect(try redis("PUBLISH", "alerts", "fire drill") == "1")
            #expect(subscriberOutput(containing: "fire drill").contains("message\nalerts\nfire drill"))

            let (status, rest) = server.terminate()
            #expect(status == miniRedisStatusAfterSIGTERM)
            #expect(rest.contains("received SIGTERM, shutting down"))
        }
    }
}
