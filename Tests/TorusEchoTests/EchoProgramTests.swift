import Foundation
import Testing
import TorusTestSupport

@testable import Torus

extension RuntimeSuite {
    @Suite("torus-echo")
    struct EchoProgram {
        @Test(
            "server and client on loopback: every byte verified, both buffer modes and accept modes",
            arguments: [
                ["--buffers", "provided", "--accept", "reuseport"], ["--buffers", "owned", "--accept", "handoff"],
            ])
        func roundTrip(serverArguments: [String]) throws {
            let server = try ListeningProcess.echoServer(serverArguments)
            let outcome = try runProcess(
                builtExecutable("torus-echo"),
                [
                    "client", "--port", "\(server.port)", "--connections", "20", "--pipeline", "4", "--size", "700",
                    "--duration", "0.5", "--warmup", "0.1", "--cores", "2", "--json",
                ])
            #expect(outcome.status == 0, "\(outcome.stderr)")
            let json = try JSONSerialization.jsonObject(with: Data(outcome.stdout.utf8)) as? [String: Any]
            #expect((json?["messages"] as? Int ?? 0) > 100)
            #expect(json?["mismatches"] as? Int == 0)
            let (status, rest) = server.terminate()
            #expect(status == 143, "128 + SIGTERM after a graceful stop")
            #expect(rest.contains("stopped"))
            // Per-core figures on exit: both cores served (reuse-port spreads 20 connections).
            for core in 0..<2 {
                let line = rest.split(separator: "\n").first { $0.hasPrefix("core \(core): jobs=") }
                #expect(line != nil, "\(rest)")
                #expect(line.map { !$0.contains("completions=0 ") } ?? false, "\(rest)")
            }
        }

        @Test("clients that vanish mid-message, and a half-close, leave the server serving")
        func abruptAndHalfClose() async throws {
            let server = try ListeningProcess.echoServer()
            let port = server.port
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            let echoed = try await runtime.handle.spawn { () -> String in
                // Vanish: half a message, then a reset.
                for _ in 0..<20 {
                    let victim = try await TCPStream.connect(to: .loopback(port: port))
                    try await victim.writeAll(Array(repeating: 1, count: 3000))
                    var linger = Glibc.linger(l_onoff: 1, l_linger: 0)
                    setsockopt(victim.descriptor.rawValue, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<Glibc.linger>.size))
                    try await victim.close()
                }
                // Half-close: everything sent before the shutdown comes back, then end of stream.
                let client = try await TCPStream.connect(to: .loopback(port: port))
                try await client.writeAll("the last words")
                try await client.shutdown(.write)
                return String(decoding: try await client.readToEnd(), as: UTF8.self)
            }.value
            #expect(echoed == "the last words")
            let (status, _) = server.terminate()
            #expect(status == 143)
        }

        @Test("SIGTERM with connections open: the server closes them and exits 143 (128 + SIGTERM)")
        func sigtermWithOpenConnections() async throws {
            let server = try ListeningProcess.echoServer()
            let port = server.port
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            let clients = try await runtime.handle.spawn { () -> [TCPStream] in
                var clients: [TCPStream] = []
                for _ in 0..<50 { clients.append(try await TCPStream.connect(to: .loopback(port: port))) }
                try await clients[0].writeAll("ping")
                _ = try await clients[0].readExactly(4)
                return clients
            }.value
            let (status, rest) = server.terminate()
            #expect(status == 143)
            #expect(rest.contains("stopped"))
            let ended = try await runtime.handle.spawn { () -> Bool in
                // The server closed our connections: reads end.
                let n = try await clients[1].read(into: IOBuffer(capacity: 8))
                return n == 0
            }.value
            #expect(ended)
        }

        @Test("bad host, unused port and a port in use give clear errors")
        func errors() throws {
            let echo = builtExecutable("torus-echo")
            let badHost = try runProcess(echo, ["client", "--port", "80", "--host", "999.1.1.1", "--duration", "0.1"])
            #expect(badHost.status != 0)
            #expect(badHost.stderr.contains("\"999.1.1.1\""))
            let port = try unusedPort()
            let refused = try runProcess(echo, ["client", "--port", "\(port)", "--duration", "0.1", "--warmup", "0"])
            #expect(refused.status == 1)
            #expect(refused.stderr.contains("Connection refused"))
            #expect(refused.stderr.contains("127.0.0.1:\(port)"))
            let server = try ListeningProcess.echoServer()
            let inUse = try runProcess(echo, ["server", "--port", "\(server.port)", "--accept", "handoff"])
            #expect(inUse.status == 1)
            #expect(inUse.stderr.contains("Address already in use"))
            // SO_REUSEPORT listeners too: a second server must not silently take half the clients.
            let shared = try runProcess(echo, ["server", "--port", "\(server.port)", "--accept", "reuseport", "--cores", "2"])
            #expect(shared.status == 1)
            #expect(shared.stderr.contains("Address already in use"), "\(shared.stderr)")
            _ = server.terminate()
        }

        @Test("start-up failures exit nonzero; --cores above the CPU count is clamped with a message")
        func startupStatus() throws {
            let echo = builtExecutable("torus-echo")
            let badCPU = try runProcess(echo, ["server", "--port", "0", "--cpus", "4096"])
            #expect(badCPU.status == 1)
            #expect(badCPU.stderr.contains("CPU 4096"), "\(badCPU.stderr)")
            let server = try ListeningProcess("torus-echo", ["server", "--port", "0", "--cores", "4096"])
            let (status, _) = server.terminate()
            #expect(status == 143)
            let warning = String(decoding: server.errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            #expect(warning.contains("--cores 4096 is more than the \(Runtime.allowedCPUs.count) CPUs"), "\(warning)")
        }
    }
}
