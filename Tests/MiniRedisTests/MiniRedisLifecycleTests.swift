import Foundation
import Glibc
import MiniRedis
import Testing
import TorusTestSupport

@testable import Torus

/// mini-redis-server as a ServiceGroup: signals, exit statuses, log levels (real processes,
/// real sockets, redis-cli).
extension RuntimeSuite {
    @Suite("mini-redis-server: lifecycle")
    struct MiniRedisLifecycle {
        @Test("SIGTERM with a client connected and a subscriber's socket full: graceful shutdown, status 143, logged")
        func sigtermWithBusyClients() async throws {
            let server = try miniRedisProcess()
            let port = server.port
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            let (client, stalled) = try await runtime.handle.spawn { () -> (TCPStream, TCPStream) in
                // A client connected and idle between commands.
                let client = try await TCPStream.connect(to: .loopback(port: port))
                try await client.writeAll(Command.ping(message: nil).frame.encoded)
                #expect(try await client.readExactly(7) == Array("+PONG\r\n".utf8))
                let stalled = try await stalledSubscriber(port: port, channel: "news")
                let publisher = try await Client.connect(to: .loopback(port: port))
                // 8 MB: under every limit, far more than the socket holds: the writer is stuck.
                for _ in 0..<8 { #expect(try await publisher.publish("news", [UInt8](repeating: 1, count: 1 << 20)) == 1) }
                try await publisher.close()
                return (client, stalled)
            }.value
            let started = ContinuousClock.now
            kill(server.process.processIdentifier, SIGTERM)
            // Within the runtime's 5 s grace period: the connections are cancelled at once.
            #expect(waitForExit(server, within: .seconds(5), "mini-redis-server after SIGTERM") == 143)
            #expect(ContinuousClock.now - started < .seconds(5))
            let log = String(decoding: server.output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            #expect(log.contains("notice mini-redis-server: [mini_redis_server] received SIGTERM, shutting down"), "\(log)")
            #expect(log.contains("exiting with status 143"), "\(log)")
            _ = (client, stalled)
        }

        @Test("SIGTERM the moment the server says it listens: a graceful shutdown every time (status 143, not killed)")
        func sigtermRightAfterListening() throws {
            // The services of its group start concurrently: before the signals were trapped
            // ahead of the group, a SIGTERM right after the "listening on" line could find no
            // handler and kill the server (status 15; one full test run in a few).
            for attempt in 0..<20 {
                let server = try ListeningProcess("mini-redis-server", ["--port", "0", "--cores", "2"])
                let (status, _) = server.terminate()
                #expect(status == miniRedisStatusAfterSIGTERM, "attempt \(attempt)")
            }
        }

        @Test("SIGINT: graceful shutdown, status 130")
        func sigint() throws {
            let server = try miniRedisProcess()
            #expect(try redisCLI(port: server.port, ["SET", "a", "1"]).output == "OK")
            let (status, log) = server.terminate(signal: SIGINT)
            #expect(status == 130)
            #expect(log.contains("received SIGINT, shutting down"), "\(log)")
        }

        @Test("a metrics port in use is a start-up failure: status 1, a message naming the flag and the errno")
        func metricsPortInUse() throws {
            let first = try miniRedisProcess()
            let second = try runProcess(builtExecutable("mini-redis-server"), ["--port", "0", "--cores", "1", "--metrics-port", "\(first.port)"])
            #expect(second.status == 1)
            #expect(
                second.stderr.contains("mini-redis-server: --metrics-port: bind 127.0.0.1:\(first.port): Address already in use (EADDRINUSE)"),
                "\(second.stderr)")
            #expect(!second.stdout.contains("listening on"), "\(second.stdout)")
            #expect(first.terminate().0 == miniRedisStatusAfterSIGTERM)
            let badBind = try runProcess(builtExecutable("mini-redis-server"), ["--metrics-port", "0", "--metrics-bind", "localhost"])
            #expect(badBind.status == 1)
            #expect(badBind.stderr.contains("--metrics-bind needs an IP address"), "\(badBind.stderr)")
        }

        @Test("--loglevel: notice logs the start (port, cores) and the shutdown; warning hides them; debug adds the group's steps")
        func logLevels() throws {
            let notice = try miniRedisProcess()
            let (_, noticeLog) = notice.terminate()
            #expect(
                noticeLog.contains("notice mini-redis-server: cores=2 port=\(notice.port) [mini_redis_server] ready to accept connections"),
                "\(noticeLog)")
            #expect(noticeLog.contains("received SIGTERM"))
            #expect(!noticeLog.contains(" debug "), "\(noticeLog)")

            let quiet = try miniRedisProcess(["--loglevel", "warning"])
            #expect(try redisCLI(port: quiet.port, ["PING"]).output == "PONG")
            let (status, quietLog) = quiet.terminate()
            #expect(status == miniRedisStatusAfterSIGTERM)
            // Nothing below warning (a loaded machine may still log a stalled core, a warning).
            let quietLines = quiet.earlierLines + quietLog.split(separator: "\n").map(String.init)
            #expect(!quietLines.contains { $0.contains(" notice ") || $0.contains(" info ") || $0.contains(" debug ") }, "\(quietLines)")

            let chatty = try miniRedisProcess(["--loglevel", "debug"])
            let (_, chattyLog) = chatty.terminate()
            let debugLines = (chatty.earlierLines + chattyLog.split(separator: "\n").map(String.init)).filter {
                $0.contains(" debug mini-redis-server:")
            }
            #expect(debugLines.contains { $0.contains("[ServiceLifecycle] Starting service") }, "\(debugLines)")
            #expect(debugLines.contains { $0.contains("[Torus] core 0 started") }, "\(debugLines)")
        }

        @Test("--help documents the exit statuses")
        func helpExitStatuses() throws {
            let help = try runProcess(builtExecutable("mini-redis-server"), ["--help"])
            #expect(help.status == 0)
            let text = help.stdout.split(whereSeparator: \.isWhitespace).joined(separator: " ")
            #expect(text.contains("143 for SIGTERM, 130 for SIGINT"), "\(help.stdout)")
            #expect(text.contains("SuccessExitStatus=143"), "\(help.stdout)")
            #expect(text.contains("--loglevel") && text.contains("--metrics-port"), "\(help.stdout)")
        }
    }
}
