import Foundation
import Glibc
import MiniRedis
import Testing
import TorusTestSupport

@testable import Torus

/// Random and mutated RESP: what a broken or hostile client might send.
struct RESPFuzzer {
    /// Deterministic (`SeededGenerator`, shared with the copy tests): a failing case can be
    /// replayed by seed.
    var random: SeededGenerator

    mutating func bytes(_ count: Int) -> [UInt8] { (0..<count).map { _ in UInt8.random(in: 0...255, using: &random) } }

    mutating func word() -> [UInt8] {
        switch Int.random(in: 0..<4, using: &random) {
        case 0: return bytes(Int.random(in: 0..<20, using: &random))
        case 1:
            return Array(
                ["GET", "SET", "DEL", "PING", "PUBLISH", "SUBSCRIBE", "UNSUBSCRIBE", "CONFIG", "EX", "PX"]
                    .randomElement(using: &random)!.utf8)
        case 2: return Array("\(Int64.random(in: -3...100, using: &random))".utf8)
        default: return Array("k\(Int.random(in: 0..<10, using: &random))".utf8)
        }
    }

    /// A well-formed array of bulk strings.
    mutating func command() -> [UInt8] {
        Frame.array((0..<Int.random(in: 1...5, using: &random)).map { _ in .bulk(word()) }).encoded
    }

    /// A valid command with one thing broken: a byte changed, a piece cut out, a line break
    /// inserted, a length replaced by a huge, negative or non-numeric one.
    mutating func mutated() -> [UInt8] {
        var frame = command()
        let at = Int.random(in: 0..<frame.count, using: &random)
        switch Int.random(in: 0..<5, using: &random) {
        case 0: frame[at] = UInt8.random(in: 0...255, using: &random)
        case 1: frame.removeSubrange(at..<min(frame.count, at + Int.random(in: 1...8, using: &random)))
        case 2: frame.insert(contentsOf: [13, 10], at: at)
        case 3:
            let lengths = ["99999999999999999999", "-2", "536870913", "1048577", "x", ""]
            frame.insert(contentsOf: Array(lengths.randomElement(using: &random)!.utf8), at: at)
        default: frame = Array(frame[..<at])
        }
        return frame
    }

    /// Other frame types and shapes where requests are expected.
    mutating func oddFrame() -> [UInt8] {
        let frames: [Frame] = [
            .array([.array([.bulk("GET")])]), .integer(Int64.random(in: .min ... .max, using: &random)), .null,
            .simple("PING"), .error("ERR"), .array([]), .bulk(word()), .array([.bulk("GET"), .integer(7)]),
        ]
        return frames.randomElement(using: &random)!.encoded
    }

    /// One connection's worth: a few pieces of any kind.
    mutating func session() -> [UInt8] {
        var stream: [UInt8] = []
        for _ in 0..<Int.random(in: 1...6, using: &random) {
            switch Int.random(in: 0..<5, using: &random) {
            case 0: stream += command()
            case 1: stream += bytes(Int.random(in: 0..<64, using: &random))
            case 2: stream += oddFrame()
            case 3: stream += Array("PING \(String(decoding: word(), as: UTF8.self))\r\n".utf8)
            default: stream += mutated()
            }
        }
        return stream
    }

    /// Cut points that split `count` bytes into a few writes.
    mutating func cuts(_ count: Int) -> [Int] {
        guard count > 1 else { return [] }
        return (0..<Int.random(in: 0...4, using: &random)).map { _ in Int.random(in: 1..<count, using: &random) }.sorted()
    }
}

extension RuntimeSuite.HostileRedisClients {
    @Test(
        "RESP fuzzing: random and mutated frames split at random points; then redis-cli PING gets PONG",
        .enabled(if: RuntimeSuite.MiniRedisServer.redisCLI != nil, "redis-cli is not installed"))
    func fuzz() async throws {
        // TORUS_STRESS=1: a long run (100,000 connections, about a minute).
        let cases = ProcessInfo.processInfo.environment["TORUS_STRESS"] == "1" ? 100_000 : 1_000
        let server = try miniRedisProcess()
        let port = server.port
        let runtime = try makeRuntime()
        defer { runtime.shutdown() }
        try await runtime.handle.spawn {
            var fuzzer = RESPFuzzer(random: SeededGenerator(seed: 15))
            for index in 0..<cases {
                let stream = fuzzer.session()
                let raw = try await TCPStream.connect(to: .loopback(port: port))
                try raw.setNoDelay(true)
                var start = 0
                for cut in fuzzer.cuts(stream.count) + [stream.count] where cut > start {
                    try await raw.writeAll(stream[start..<cut])
                    start = cut
                }
                try await raw.shutdown(.write)
                // Whatever it was sent, the server answers and closes once the client is done.
                do {
                    _ = try await withTimeout(.seconds(5)) { try await raw.readToEnd() }
                } catch let error as TimeoutError {
                    Issue.record("case \(index) hung: \(error); sent \(stream)")
                } catch {
                    // A reset after an error reply is fine.
                }
                try await raw.close()
            }
        }.value
        let ping = try redisCLI(port: port, ["PING"])
        #expect(ping.status == 0 && ping.output == "PONG", "\(ping.output)")
        #expect(server.terminate().0 == miniRedisStatusAfterSIGTERM)
    }
}
