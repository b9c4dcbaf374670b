import Foundation
import Glibc
import Testing
import TorusTestSupport

@testable import Torus

extension RuntimeSuite.EchoProgram {
    static let prlimit = ["/usr/bin/prlimit", "/bin/prlimit"].first { FileManager.default.isExecutableFile(atPath: $0) }

    @Test(
        "out of descriptors (prlimit --nofile=64), the accept loops wait and retry: every client is served once others close",
        .enabled(if: prlimit != nil, "prlimit is not installed (util-linux)"))
    func acceptSurvivesEMFILE() async throws {
        let server = try ListeningProcess(
            path: Self.prlimit!,
            [
                "--nofile=64", builtExecutable("torus-echo"), "server", "--port", "0", "--cores", "2",
            ])
        let port = server.port
        let runtime = try makeRuntime()
        defer { runtime.shutdown() }
        let served = try await runtime.handle.spawn { () -> [Bool] in
            // Far more connections than the server has descriptors for.
            var clients: [TCPStream] = []
            for _ in 0..<90 { clients.append(try await TCPStream.connect(to: .loopback(port: port))) }
            try await sleep(for: .milliseconds(200))
            // Free most of them: the clients still waiting in the backlog get accepted.
            for client in clients[..<60] { try await client.close() }
            let fresh = try await TCPStream.connect(to: .loopback(port: port))
            var served: [Bool] = []
            for client in Array(clients[60...]) + [fresh] {
                try await client.writeAll("ping")
                let echoed = try? await withTimeout(.seconds(5)) { try await client.readExactly(4) }
                served.append(echoed == Array("ping".utf8))
            }
            return served
        }.value
        #expect(served.allSatisfy { $0 }, "\(served.filter { !$0 }.count) of \(served.count) clients were not served")
        let (status, _) = server.terminate()
        #expect(status == 143, "the server ended gracefully (128 + SIGTERM)")
        let errors = String(decoding: server.errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(errors.contains("Too many open files"), "\(errors)")
    }
}

extension RuntimeSuite.EchoProgram {
    @Test("clients that send without ever reading do not starve fresh ones (default provided buffers); SIGTERM still exits at once")
    func stuckClientsDoNotStarveFreshOnes() async throws {
        let server = try ListeningProcess.echoServer(["--buffers", "provided"])
        let port = server.port
        let pid = server.process.processIdentifier
        let runtime = try makeRuntime()
        defer { runtime.shutdown(gracePeriod: .milliseconds(200)) }
        let (served, floods) = try await runtime.handle.spawn { () -> (Int, [JoinHandle<Void>]) in
            // Eight clients flooding the server and never reading its echo: its writes to them
            // block, their receives stop being consumed.
            var floods: [JoinHandle<Void>] = []
            for _ in 0..<8 {
                floods.append(
                    spawn {
                        let client = try await TCPStream.connect(to: .loopback(port: port))
                        let chunk = IOBuffer(Array(repeating: 7, count: 64 << 10))
                        while true { try await client.writeAll(chunk) }
                    })
            }
            try await sleep(for: .milliseconds(500))
            var served = 0
            for index in 0..<20 {
                let client = try await TCPStream.connect(to: .loopback(port: port))
                let message = Array("fresh \(index)".utf8)
                try await client.writeAll(message)
                if (try? await withTimeout(.seconds(5)) { try await client.readExactly(message.count) }) == message { served += 1 }
                try await client.close()
            }
            return (served, floods)
        }.value
        #expect(served == 20)
        // Shutdown while the flooders' connections are stuck in writes: cancelled, not awaited.
        kill(pid, SIGTERM)
        #expect(waitForExit(server, within: .seconds(5), "torus-echo server after SIGTERM") == 143)
        for flood in floods { flood.cancel() }
    }
}

extension RuntimeSuite.EchoProgram {
    @Test("SIGTERM right after start-up never hangs (30 starts): a cancellation that lands while an accept is being armed is not lost")
    func earlySignal() throws {
        for _ in 0..<30 {
            let server = try ListeningProcess.echoServer()
            kill(server.process.processIdentifier, SIGTERM)
            guard waitForExit(server, within: .seconds(5), "torus-echo server after an early SIGTERM") == 143 else { return }
        }
    }
}
