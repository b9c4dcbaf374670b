import Foundation
import Testing
import TorusTestSupport

@testable import Torus

/// Waits (up to 10 s) until process `pid` catches `signal` (its bit in /proc/PID/status's
/// SigCgt): the program's handlers are in place, so the signal is handled, not fatal.
func waitForSignalHandler(_ pid: Int32, _ signal: Int32) {
    let deadline = ContinuousClock.now + .seconds(10)
    while ContinuousClock.now < deadline {
        let status = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
        if let line = status.split(separator: "\n").first(where: { $0.hasPrefix("SigCgt:") }),
            let mask = UInt64(line.dropFirst("SigCgt:".count).trimmingCharacters(in: .whitespaces), radix: 16),
            mask & (1 << UInt64(signal - 1)) != 0
        {
            return
        }
        usleep(1000)
    }
}

/// The children of process `pid` (from /proc/PID/task/*/children).
func childProcesses(of pid: Int32) -> [Int32] {
    let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task")) ?? []
    return tasks.flatMap { task in
        ((try? String(contentsOfFile: "/proc/\(pid)/task/\(task)/children", encoding: .utf8)) ?? "").split(separator: " ").compactMap { Int32($0) }
    }
}

extension RuntimeSuite {
    @Suite("Program exit statuses")
    struct ProgramExitStatus {
        @Test(
            "torus-echo server: SIGINT, SIGTERM and SIGHUP stop it gracefully with 128+N",
            arguments: [SIGINT, SIGTERM, SIGHUP])
        func echoServerStatus(signal: Int32) throws {
            let server = try ListeningProcess.echoServer()
            let (status, rest) = server.terminate(signal: signal)
            #expect(server.process.terminationReason == .exit)
            #expect(status == 128 + signal)
            #expect(rest.contains("stopped"), "the per-core figures and 'stopped' come first: \(rest)")
        }

        @Test("torus-echo client: a signal mid-run stops it with 128+N and no report that would pass for a whole one")
        func echoClientStatus() throws {
            let server = try ListeningProcess.echoServer()
            let client = Process()
            client.executableURL = URL(fileURLWithPath: builtExecutable("torus-echo"))
            client.arguments = [
                "client", "--port", "\(server.port)", "--connections", "4", "--duration", "60", "--warmup", "0",
                "--cores", "1", "--json",
            ]
            let output = Pipe()
            let errors = Pipe()
            client.standardOutput = output
            client.standardError = errors
            try client.run()
            waitForSignalHandler(client.processIdentifier, SIGINT)
            usleep(200_000)  // connected and sending
            kill(client.processIdentifier, SIGINT)
            let stdout = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            let stderr = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            client.waitUntilExit()
            #expect(client.terminationReason == .exit)
            #expect(client.terminationStatus == 130, "\(stderr)")
            #expect(stdout.isEmpty, "\(stdout)")
            #expect(stderr.contains("stopped by SIGINT"), "\(stderr)")
            #expect(server.terminate().0 == 143)
        }

        @Test(
            "torus-echo bench: SIGTERM to the bench alone stops the servers and clients it started, then exits 143",
            .enabled(if: Runtime.allowedCPUs.count >= 2, "the bench pins its server and client to two CPUs"))
        func benchStopsChildren() throws {
            let bench = Process()
            bench.executableURL = URL(fileURLWithPath: builtExecutable("torus-echo"))
            // The SwiftNIO server is only checked to be a program: the signal comes while the
            // first server (torus-echo's own) runs.
            bench.arguments = [
                "bench", "--nio-server", "/bin/true", "--c-server", "/nonexistent", "--duration", "30", "--warmup", "0",
                "--server-cpu", "\(Runtime.allowedCPUs[0])", "--client-cpu", "\(Runtime.allowedCPUs[1])",
            ]
            let output = Pipe()
            let errors = Pipe()
            bench.standardOutput = output
            bench.standardError = errors
            try ThreadAffinity.unpinCurrentThread()
            try bench.run()
            waitForSignalHandler(bench.processIdentifier, SIGTERM)
            // Wait for the server and its client: two children.
            var children: [Int32] = []
            let deadline = ContinuousClock.now + .seconds(10)
            while children.count < 2 && ContinuousClock.now < deadline {
                children = childProcesses(of: bench.processIdentifier)
                usleep(10_000)
            }
            #expect(children.count == 2, "\(children)")
            kill(bench.processIdentifier, SIGTERM)
            let stderr = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            bench.waitUntilExit()
            #expect(bench.terminationReason == .exit)
            #expect(bench.terminationStatus == 143, "\(stderr)")
            #expect(stderr.contains("torus-echo bench: stopped by SIGTERM"), "\(stderr)")
            for child in children {
                // Gone, or a zombie waiting for an init that does not reap: not running either way.
                let state = (try? String(contentsOfFile: "/proc/\(child)/stat", encoding: .utf8))?.split(separator: " ").dropFirst(2).first
                #expect(state == nil || state == "Z", "child \(child) still running: \(state ?? "")")
            }
        }

        @Test(
            "start-up failures and bad flags exit nonzero with a message naming the problem",
            arguments: [
                ("torus-echo", ["server", "--port", "0", "--cpus", "4096"], 1, "CPU 4096 is not in this process's allowed set"),
                ("torus-echo", ["server", "--port", "0", "--bogus"], 64, "Unknown option '--bogus'"),
                ("torus-echo", ["client", "--port", "1", "--connections", "0"], 64, "--connections must be at least 1"),
                ("torus-echo", ["bench", "--nio-server", "/nonexistent"], 64, "SwiftNIO echo server not found at /nonexistent"),
                ("torus-cp", ["--cores", "0", "a", "b"], 1, "--cores must be from 1 to 4096"),
                ("torus-cp", ["--bogus", "a", "b"], 1, "Unknown option '--bogus'"),
                ("torus-cp", ["/nonexistent/a", "/tmp/b"], 1, "cannot stat '/nonexistent/a': No such file or directory"),
            ])
        func startupFailures(program: String, arguments: [String], status: Int32, message: String) throws {
            let outcome = try runProcess(builtExecutable(program), arguments)
            #expect(outcome.status == status, "\(outcome.stderr)")
            #expect(outcome.stderr.contains(message), "\(outcome.stderr)")
        }

        @Test("torus-echo server: the port in use exits 1 naming it")
        func portInUse() throws {
            let server = try ListeningProcess.echoServer()
            let second = try runProcess(builtExecutable("torus-echo"), ["server", "--port", "\(server.port)", "--cores", "1"])
            #expect(second.status == 1)
            #expect(second.stderr.contains("Address already in use"), "\(second.stderr)")
            #expect(second.stderr.contains("\(server.port)"), "\(second.stderr)")
            #expect(server.terminate().0 == 143)
        }

        @Test(
            "--help documents the exit statuses",
            arguments: [["torus-cp", "--help"], ["torus-echo", "--help"], ["torus-echo", "server", "--help"]])
        func helpDocumentsStatuses(command: [String]) throws {
            let outcome = try runProcess(builtExecutable(command[0]), Array(command.dropFirst()))
            #expect(outcome.status == 0)
            #expect(outcome.stdout.contains("130"), "\(outcome.stdout)")
            #expect(outcome.stdout.contains("143"), "\(outcome.stdout)")
        }
    }
}
