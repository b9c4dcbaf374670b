import Foundation
import Glibc
import Testing
import TorusTestSupport

@testable import MiniRedis
@testable import Torus

/// An `INFO` reply as redis-cli prints it: the sections in order, each with its fields.
struct InfoReply {
    var sections: [(name: String, fields: [String: String])] = []

    /// Parses redis's format, checking it on the way: every line ends with CRLF, a section
    /// starts with `# Name`, sections are separated by one blank line, fields are `key:value`.
    init(_ output: String) throws {
        guard !output.isEmpty else { return }
        // redis-cli prints the bulk string as it is (it ends with CRLF), with nothing after.
        guard output.hasSuffix("\r\n") else {
            throw ProcessError(message: "INFO output does not end with CRLF: \(output.suffix(20).debugDescription)")
        }
        // Split on CRLF as bytes: Swift's String treats "\r\n" as one Character.
        let lines = output.components(separatedBy: "\r\n").dropLast()
        var expectingHeader = true
        for text in lines {
            guard !text.contains("\n"), !text.contains("\r") else {
                throw ProcessError(message: "a line not ended by CRLF: \(text.debugDescription)")
            }
            if text.isEmpty {
                expectingHeader = true
                continue
            }
            if expectingHeader {
                guard text.hasPrefix("# ") else { throw ProcessError(message: "expected a section header, got \(text)") }
                sections.append((String(text.dropFirst(2)), [:]))
                expectingHeader = false
                continue
            }
            guard let colon = text.firstIndex(of: ":"), !sections.isEmpty else { throw ProcessError(message: "not a field: \(text)") }
            sections[sections.count - 1].fields[String(text[..<colon])] = String(text[text.index(after: colon)...])
        }
    }

    var names: [String] { sections.map(\.name) }

    /// A field's value in any section.
    subscript(_ key: String) -> String? { sections.lazy.compactMap { $0.fields[key] }.first }

    func number(_ key: String) -> Int? { self[key].flatMap { Int($0) } }
}

extension RuntimeSuite {
    @Suite(
        "mini-redis INFO against the real binary and redis-cli",
        .enabled(if: RuntimeSuite.MiniRedisServer.redisCLI != nil, "redis-cli is not installed (apt-get install redis-tools)"))
    struct MiniRedisInfoTests {
        /// `redis-cli -p PORT INFO words...`, parsed; the raw output must be redis's format.
        static func info(port: UInt16, _ words: String...) throws -> InfoReply {
            let outcome = try runProcess(RuntimeSuite.MiniRedisServer.redisCLI!, ["-p", "\(port)", "INFO"] + words)
            guard outcome.status == 0 else { throw ProcessError(message: "redis-cli INFO failed: \(outcome.stderr)") }
            return try InfoReply(outcome.stdout)
        }

        /// The size of a request as redis-cli sends it (RESP array of bulk strings).
        static func requestSize(_ words: String...) -> Int {
            words.reduce("*\(words.count)\r\n".utf8.count) { $0 + "$\($1.utf8.count)\r\n\($1)\r\n".utf8.count }
        }

        @Test("every section and its fields; commands, connections, hits, misses and input bytes counted exactly")
        func knownSequence() throws {
            let server = try miniRedisProcess()
            let first = try Self.info(port: server.port)
            #expect(first.names == ["Server", "Clients", "Memory", "CPU", "Stats", "Keyspace", "Torus"])
            #expect(first["mini_redis_version"] == Server.version)
            #expect(first.number("process_id") == Int(server.process.processIdentifier))
            #expect(first.number("tcp_port") == Int(server.port))
            #expect(first.number("torus_cores") == 2)
            #expect(first["multiplexing_api"] == "io_uring")
            #expect(first["executable"]?.hasSuffix("/mini-redis-server") == true, "\(first["executable"] ?? "none")")
            #expect(first.number("uptime_in_seconds").map { $0 >= 0 && $0 < 60 } == true)
            #expect(first.number("uptime_in_days") == 0)
            #expect(first["run_id"]?.count == 40)
            #expect(first.number("connected_clients") == 1, "this INFO's own connection")
            #expect(first.number("maxclients") == 10_000)
            #expect(first.number("blocked_clients") == 0)
            #expect(first.number("pubsub_clients") == 0)
            // The process's resident set: a debug build of a Swift program holds a few MiB.
            #expect(first.number("used_memory").map { $0 > 1 << 20 } == true)
            #expect(first["used_memory_human"]?.wholeMatch(of: /\d+\.\d\d[KMG]/) != nil, "\(first["used_memory_human"] ?? "none")")
            #expect(first.number("maxmemory") == 0)
            #expect(first["used_cpu_user"]?.wholeMatch(of: /\d+\.\d{6}/) != nil)
            // As redis: the INFO itself is counted once it has run, its request bytes at once.
            #expect(first.number("total_connections_received") == 1)
            #expect(first.number("total_commands_processed") == 0)
            #expect(first.number("total_net_input_bytes") == Self.requestSize("INFO"))
            #expect(first.number("total_net_output_bytes") == 0)
            #expect(first.number("rejected_connections") == 0)
            #expect(first.sections.first { $0.name == "Keyspace" }?.fields.isEmpty == true, "an empty database has no db0 line")
            for core in 0..<2 {
                for field in [
                    "jobs_run", "completions", "parks", "wakeups_msg_ring", "wakeups_doorbell", "mailbox_messages",
                    "sq_full_waits", "timers_armed", "tasks_started", "operations_in_flight", "live_tasks", "receive_buffers",
                    "receive_buffers_on_loan", "receive_buffers_posted", "receive_buffer_growths", "receive_buffer_waits",
                    "receive_buffer_window_widenings",
                ] {
                    #expect(first.number("core\(core)_\(field)") != nil, "core\(core)_\(field)")
                }
            }
            #expect(first.number("blocking_queue_length") == 0)

            let sequence: [[String]] = [
                ["SET", "k", "v"], ["GET", "k"], ["GET", "missing"], ["DEL", "k"], ["SET", "t", "x", "EX", "100"], ["PING"],
            ]
            for words in sequence {
                #expect(try redisCLI(port: server.port, words).status == 0)
            }
            #expect(try redisCLI(port: server.port, ["NOSUCH"]).output.hasPrefix("ERR unknown command"))
            let stats = try Self.info(port: server.port, "stats")
            #expect(stats.names == ["Stats"])
            // The first INFO and the sequence; not the unknown command (redis does not count
            // those either) and not this INFO.
            #expect(stats.number("total_commands_processed") == 1 + sequence.count)
            #expect(stats.number("total_connections_received") == 1 + sequence.count + 1 + 1)
            #expect(stats.number("keyspace_hits") == 1)
            #expect(stats.number("keyspace_misses") == 1)
            let input =
                Self.requestSize("INFO")
                + sequence.map { words in words.reduce("*\(words.count)\r\n".utf8.count) { $0 + "$\($1.utf8.count)\r\n\($1)\r\n".utf8.count } }
                .reduce(0, +)
                + Self.requestSize("NOSUCH") + Self.requestSize("INFO", "stats")
            #expect(stats.number("total_net_input_bytes") == input)
            #expect(stats.number("total_net_output_bytes").map { $0 > 1000 } == true, "the first INFO's reply at least")
            let keyspace = try Self.info(port: server.port, "KEYSPACE")
            #expect(keyspace["db0"] == "keys=1,expires=1,avg_ttl=0")

            // The runtime ran the commands: its job counters moved.
            let torus = try Self.info(port: server.port, "torus")
            #expect(torus.names == ["Torus"])
            let jobs = { (reply: InfoReply) in (0..<2).compactMap { reply.number("core\($0)_jobs_run") }.reduce(0, +) }
            #expect(jobs(torus) > jobs(first) + sequence.count)
            for everything in ["default", "all", "everything", "ALL"] {
                #expect(try Self.info(port: server.port, everything).names == first.names)
            }
            #expect(try Self.info(port: server.port, "stats", "CLIENTS").names == ["Clients", "Stats"], "redis's order, not the request's")
            let (status, _) = server.terminate()
            #expect(status == miniRedisStatusAfterSIGTERM)
        }

        @Test("connected_clients and pubsub_clients follow connections; refusals are counted; an unknown section is an empty bulk string")
        func clients() async throws {
            let server = try miniRedisProcess(["--maxclients", "4"])
            let port = server.port
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            try await runtime.handle.spawn {
                // Three plain connections and a subscriber: every slot.
                var held: [TCPStream] = []
                for _ in 0..<3 { held.append(try await TCPStream.connect(to: .loopback(port: port))) }
                let subscriber = try await Client.connect(to: .loopback(port: port)).subscribe(to: ["news"])
                let refused = try await TCPStream.connect(to: .loopback(port: port))
                let refusal = try await withTimeout(.seconds(5)) { try await refused.readToEnd() }
                #expect(String(decoding: refusal, as: UTF8.self) == "-ERR max number of clients reached\r\n")
                try await refused.close()
                try await held[0].close()

                // INFO takes the slot freed by the close once the server has seen it; until
                // then it is refused too, and counted.
                var refusals = 0
                var reply = try InfoReply("")
                for _ in 0..<200 {
                    let outcome = try await spawnBlocking {
                        try runProcess(RuntimeSuite.MiniRedisServer.redisCLI!, ["-p", "\(port)", "INFO", "clients", "stats"])
                    }
                    if outcome.stdout.contains("max number of clients reached") {
                        refusals += 1
                    } else {
                        reply = try InfoReply(outcome.stdout)
                        if reply.number("connected_clients") == 4 { break }
                    }
                    try await sleep(for: .milliseconds(10))
                }
                #expect(reply.number("connected_clients") == 4, "two plain connections, the subscriber, this INFO")
                #expect(reply.number("pubsub_clients") == 1)
                #expect(reply.number("pubsub_channels") == 1)
                #expect(reply.number("rejected_connections") == 1 + refusals)
                #expect(reply.number("maxclients") == 4)

                // An unknown section: an empty bulk string, byte for byte, and the connection
                // goes on.
                try await held[1].writeAll("*2\r\n$4\r\nINFO\r\n$6\r\nnosuch\r\n*1\r\n$4\r\nPING\r\n")
                let answer = try await withTimeout(.seconds(5)) { try await Self.read(13, from: held[1]) }
                #expect(String(decoding: answer, as: UTF8.self) == "$0\r\n\r\n+PONG\r\n")
                let nosuch = try await spawnBlocking { try redisCLI(port: port, ["INFO", "nosuch"]) }
                #expect(nosuch.status == 0)
                #expect(nosuch.output == "")

                try await subscriber.close()
                for stream in held.dropFirst() { try await stream.close() }
                var left = -1
                for _ in 0..<200 where left != 1 {
                    try await sleep(for: .milliseconds(10))
                    left = try await spawnBlocking { try Self.info(port: port, "clients") }.number("connected_clients") ?? -1
                }
                #expect(left == 1)
                #expect(try await spawnBlocking { try Self.info(port: port, "clients") }.number("pubsub_clients") == 0)
            }.value
            let (status, _) = server.terminate()
            #expect(status == miniRedisStatusAfterSIGTERM)
        }

        /// Reads exactly `count` bytes (fewer only at the end of the stream).
        static func read(_ count: Int, from stream: TCPStream) async throws -> [UInt8] {
            let buffer = IOBuffer(capacity: count)
            while buffer.count < count {
                guard try await stream.read(into: buffer) > 0 else { break }
            }
            return buffer.withUnsafeBytes { Array($0) }
        }
    }
}

@Suite("mini-redis INFO format")
struct InfoFormatTests {
    @Test("sections chosen by INFO's arguments, in redis's order; unknown names ignored")
    func selection() {
        func selected(_ words: String...) -> [InfoSection] { InfoSection.selected(by: words.map { Array($0.utf8) }) }
        #expect(selected() == InfoSection.allCases)
        #expect(selected("everything") == InfoSection.allCases)
        #expect(selected("Stats") == [.stats])
        #expect(selected("torus", "server", "nosuch") == [.server, .torus])
        #expect(selected("nosuch").isEmpty)
    }

    @Test("sizes as redis writes them")
    func human() {
        #expect(humanBytes(0) == "0B")
        #expect(humanBytes(1023) == "1023B")
        #expect(humanBytes(1024) == "1.00K")
        #expect(humanBytes(988_760) == "965.59K")
        #expect(humanBytes(12_402_688) == "11.83M")
        #expect(humanBytes(25_276_059_648) == "23.54G")
        #expect(fixed(0.0175185, decimals: 6) == "0.017519")
        #expect(fixed(2.5, decimals: 0) == "3")
    }
}
