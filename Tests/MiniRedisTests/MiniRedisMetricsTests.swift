import Foundation
import Glibc
import MiniRedis
import Testing
import TorusTestSupport

@testable import Torus

/// mini-redis-server's `--metrics-port`: the Prometheus text format over a real socket, and an
/// endpoint that hostile clients cannot stop or use to stop the redis port.
extension RuntimeSuite {
    @Suite("mini-redis-server: Prometheus metrics")
    struct MiniRedisMetrics {
        /// A server with `--metrics-port 0`, and the port its log line names.
        static func serverWithMetrics() throws -> (ListeningProcess, UInt16) {
            let server = try miniRedisProcess(["--metrics-port", "0"])
            let line = try #require(server.earlierLines.first { $0.contains("metrics on http://127.0.0.1:") }, "\(server.earlierLines)")
            let port = try #require(line.split(separator: ":").last?.split(separator: "/").first.flatMap { UInt16($0) }, "\(line)")
            return (server, port)
        }

        /// Sends `request` on a fresh loopback connection and returns everything the server sent
        /// before closing.
        static func exchange(port: UInt16, _ request: [UInt8], on runtime: Runtime) async throws -> String {
            try await runtime.handle.spawn { () -> String in
                let stream = try await TCPStream.connect(to: .loopback(port: port))
                // A server that answers early and closes may reset the rest of a long request.
                try? await stream.writeAll(request)
                let reply = try await withTimeout(.seconds(10)) { try await stream.readToEnd() }
                try? await stream.close()
                return String(decoding: reply, as: UTF8.self)
            }.value
        }

        /// A response's status line, headers (lowercased names) and body.
        static func parse(_ response: String) -> (status: String, headers: [String: String], body: String) {
            let parts = response.components(separatedBy: "\r\n\r\n")
            let head = parts[0].components(separatedBy: "\r\n")
            var headers: [String: String] = [:]
            for line in head.dropFirst() {
                guard let colon = line.firstIndex(of: ":") else { continue }
                headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            }
            return (head[0], headers, parts.dropFirst().joined(separator: "\r\n\r\n"))
        }

        /// The samples of a text-format body: `name{labels}` to value; `#` lines are skipped.
        static func samples(_ body: String) -> [String: Double] {
            var samples: [String: Double] = [:]
            for line in body.split(separator: "\n") where !line.hasPrefix("#") {
                guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else { continue }
                samples[String(line[..<space])] = value
            }
            return samples
        }

        @Test("GET /metrics after 100 SETs: text format 0.0.4, commands >= 100, per-core runtime families for every core")
        func scrape() async throws {
            let (server, metricsPort) = try Self.serverWithMetrics()
            let sets = try redisCLI(port: server.port, ["-r", "100", "SET", "key", "value"])
            #expect(sets.status == 0 && sets.output.split(separator: "\n").count == 100, "\(sets.output)")
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            let response = Self.parse(
                try await Self.exchange(port: metricsPort, Array("GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n".utf8), on: runtime))
            #expect(response.status == "HTTP/1.1 200 OK")
            #expect(response.headers["content-type"] == "text/plain; version=0.0.4")
            #expect(response.headers["connection"] == "close")
            #expect(response.headers["content-length"] == "\(response.body.utf8.count)")
            let samples = Self.samples(response.body)
            #expect((samples["mini_redis_commands_processed_total"] ?? 0) >= 100, "\(response.body)")
            #expect((samples["mini_redis_connections_received_total"] ?? 0) >= 1)
            #expect(samples["mini_redis_rejected_connections_total"] == 0)
            #expect(samples["mini_redis_connected_clients"] != nil)
            for core in 0..<2 {
                for family in ["torus_core_jobs_run", "torus_core_completions", "torus_core_parks", "torus_core_live_tasks"] {
                    #expect(samples["\(family){core=\"\(core)\"}"] != nil, "\(family) for core \(core)")
                }
            }
            #expect(response.body.contains("# TYPE mini_redis_commands_processed_total counter"))
            #expect(response.body.contains("# TYPE torus_core_jobs_run counter"))
            // Counters only grow from one scrape to the next.
            _ = try redisCLI(port: server.port, ["PING"])
            let again = Self.samples(
                Self.parse(try await Self.exchange(port: metricsPort, Array("GET /metrics?x=1 HTTP/1.1\r\n\r\n".utf8), on: runtime)).body)
            #expect((again["mini_redis_commands_processed_total"] ?? 0) > (samples["mini_redis_commands_processed_total"] ?? 0))
            #expect(server.terminate().0 == miniRedisStatusAfterSIGTERM)
        }

        @Test(
            "hostile clients: a 100 KiB head gets 431, a silent one does not hold others up, other paths 404, other methods 405; redis keeps serving")
        func hostileClients() async throws {
            let (server, metricsPort) = try Self.serverWithMetrics()
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            // Connected and silent (a slowloris): held only by its own read timeout.
            let silent = try await runtime.handle.spawn { try await TCPStream.connect(to: .loopback(port: metricsPort)) }.value

            var huge = Array("GET /metrics HTTP/1.1\r\n".utf8)
            while huge.count < 100 << 10 { huge += Array("X-Padding: \(String(repeating: "a", count: 1000))\r\n".utf8) }
            huge += Array("\r\n".utf8)
            let tooLarge = Self.parse(try await Self.exchange(port: metricsPort, huge, on: runtime))
            #expect(tooLarge.status == "HTTP/1.1 431 Request Header Fields Too Large")
            #expect(tooLarge.headers["connection"] == "close")

            let missing = Self.parse(try await Self.exchange(port: metricsPort, Array("GET /secrets HTTP/1.1\r\n\r\n".utf8), on: runtime))
            #expect(missing.status == "HTTP/1.1 404 Not Found")
            let post = Self.parse(
                try await Self.exchange(port: metricsPort, Array("POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n".utf8), on: runtime))
            #expect(post.status == "HTTP/1.1 405 Method Not Allowed")
            #expect(post.headers["allow"] == "GET, HEAD")
            let garbage = Self.parse(try await Self.exchange(port: metricsPort, Array("\u{1}\u{2}garbage\r\n\r\n".utf8), on: runtime))
            #expect(garbage.status == "HTTP/1.1 400 Bad Request")

            // The redis port and the endpoint still serve.
            #expect(try redisCLI(port: server.port, ["PING"]).output == "PONG")
            let ok = Self.parse(try await Self.exchange(port: metricsPort, Array("GET /metrics HTTP/1.0\r\n\r\n".utf8), on: runtime))
            #expect(ok.status == "HTTP/1.1 200 OK")
            _ = silent
            #expect(server.terminate().0 == miniRedisStatusAfterSIGTERM)
        }
    }
}
