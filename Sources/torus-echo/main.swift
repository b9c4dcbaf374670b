// torus-echo: a thread-per-core echo server on Torus, its load generator, and the benchmark
// that runs both (and SwiftNIO's echo server) pinned to separate cores.
import ArgumentParser
import Foundation
import Torus
import TorusVersion

extension AcceptMode: ExpressibleByArgument {}
extension BufferMode: ExpressibleByArgument {}
extension ReplyMode: ExpressibleByArgument {}

struct TorusEcho: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "torus-echo",
        abstract: "A thread-per-core echo server on io_uring, its load generator, and a benchmark against SwiftNIO.",
        discussion: """
            Exit status: 0 on success; 1 when the server cannot start (a port in use, a CPU outside \
            the allowed set, no io_uring) or the client cannot connect; 2 when the client received \
            a byte it did not send; 64 for a usage error; 128+N when signal N stopped the program \
            (130 SIGINT, 143 SIGTERM, 129 SIGHUP), after the server closed its connections and \
            printed its per-core figures, or the client and the bench stopped their connections \
            and child processes.
            """,
        version: torusVersion,
        subcommands: [Server.self, Client.self, Bench.self])
}

/// The signals every subcommand stops on (each installs them before it starts its work).
let stoppingSignals: Set<ProcessSignal> = [.interrupt, .terminate, .hangup]

/// The status for a program a signal stopped: the shell's convention, 128 + the signal's number.
func signalExit(_ signal: ProcessSignal) -> ExitCode {
    ExitCode(128 + signal.rawValue)
}

/// Writes a line to stdout at once (tests and the bench read it through a pipe).
func say(_ line: String) {
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}

func parseAddress(host: String, port: UInt16) throws -> SocketAddress {
    do {
        return try SocketAddress(host: host == "localhost" ? "127.0.0.1" : host, port: port)
    } catch {
        throw ValidationError("\(error)")
    }
}

/// `requested` cores, or as many as this process may run on if that is fewer (more core
/// threads than CPUs would only time-slice each other), saying so on stderr.
func clampedCores(_ requested: Int, program: String) -> Int {
    let available = Runtime.allowedCPUs.count
    guard requested > available, available > 0 else { return requested }
    printError("\(program): --cores \(requested) is more than the \(available) CPUs this process may use; using \(available)")
    return available
}

func parseCPUs(_ text: String?) throws -> [Int]? {
    guard let text else { return nil }
    let cpus = text.split(separator: ",").compactMap { Int($0) }
    guard !cpus.isEmpty else { throw ValidationError("--cpus takes a comma-separated list of CPU numbers, got \"\(text)\"") }
    return cpus
}

struct Server: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Echo every byte back, one executor per core; stops on SIGINT/SIGTERM/SIGHUP.",
        discussion: """
            Prints "listening on ADDRESS" once ready. On SIGINT, SIGTERM or SIGHUP it stops accepting, \
            closes every connection, prints each core's figures and "stopped", then exits 128+N \
            (130, 143, 129). A start-up failure (the port in use, a CPU outside the allowed set, \
            no io_uring) exits 1 naming the problem.
            """)

    @Option(help: "TCP port (0: pick one and print it).") var port: UInt16
    @Option(help: "Address to listen on.") var host: String = "127.0.0.1"
    @Option(help: "Number of cores (default: every allowed CPU).") var cores: Int?
    @Option(help: "Pin the cores to these CPUs (comma-separated).") var cpus: String?
    @Option(help: "reuseport: a listener per core; handoff: core 0 accepts and hands connections to the least-loaded core.") var accept: AcceptMode =
        .reuseport
    @Option(help: "provided: multishot receive into provided buffers; owned: a buffer per connection.") var buffers: BufferMode = .provided
    @Option(help: "Size of each provided receive buffer in bytes (with --buffers provided; default 16384).") var receiveBufferSize: Int?
    @Option(
        help:
            "forwarded: received chunks go to a send queue from the receive's completion (no task resumption per message; with --buffers owned as queued); queued: the task hands each batch to a send queue; awaited: each send awaited before the next receive."
    )
    var replies: ReplyMode = .forwarded
    @Option(help: "Microseconds a core keeps polling for work before it parks (RuntimeConfiguration.busyPoll; 0: park at once).")
    var busyPollMicroseconds: Int = 0

    func run() throws {
        let address = try parseAddress(host: host, port: port)
        let limit = raiseDescriptorLimit()
        var configuration = RuntimeConfiguration()
        if let list = try parseCPUs(cpus) {
            configuration.cores = .cpus(list)
        } else if let cores {
            guard cores > 0 else { throw ValidationError("--cores must be at least 1") }
            configuration.cores = .count(clampedCores(cores, program: "torus-echo server"))
        }
        guard (0...1_000_000).contains(busyPollMicroseconds) else { throw ValidationError("--busy-poll-microseconds must be 0 to 1000000") }
        configuration.busyPoll = .microseconds(busyPollMicroseconds)
        if let receiveBufferSize {
            guard (1...(1 << 20)).contains(receiveBufferSize) else { throw ValidationError("--receive-buffer-size must be 1 to 1048576 bytes") }
            configuration.receiveBufferSize = receiveBufferSize
        }
        let runtime: Runtime
        do {
            runtime = try Runtime(configuration)
        } catch {
            // A start-up failure (a CPU outside the allowed set, no io_uring): exit nonzero.
            printError("torus-echo server: \(error)")
            throw ExitCode(1)
        }
        // Handlers in place before the server listens, so an early signal is not lost.
        let signals = try SignalListener(stoppingSignals)
        let server = EchoServer(address: address, accept: accept, buffers: buffers, replies: replies)
        // A signal cancels the server: it stops accepting, closes the connections, exits 128+N.
        let stopped = try runtime.handle.block {
            await signals.cancelling {
                try await server.run { bound in
                    say(
                        "listening on \(bound) (\(runtime.cores.count) cores, accept \(server.accept), buffers \(server.buffers), replies \(server.replies), fd limit \(limit))"
                    )
                }
            }
        }
        let outcome = stopped.result
        // Each core's own figures (jobs, completions, parks, wake-ups, receive buffers), so an
        // operator sees how the load spread and whether buffers ran short.
        let figures = try? runtime.handle.block { await runtime.handle.metrics() }
        runtime.shutdown(gracePeriod: .seconds(2))
        switch outcome {
        case .success, .failure(is CancellationError):
            for core in figures?.cores ?? [] { say("\(core)") }
            say("stopped")
            if let signal = stopped.signal { throw signalExit(signal) }
        case .failure(let error):
            printError("torus-echo server: \(error)")
            throw ExitCode(1)
        }
    }
}

struct Client: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Keep messages in flight on many connections, verify every echoed byte, report throughput and latency.")

    @Option(help: "Server port.") var port: UInt16
    @Option(help: "Server address.") var host: String = "127.0.0.1"
    @Option(help: "Connections.") var connections: Int = 1
    @Option(help: "Messages in flight per connection.") var pipeline: Int = 1
    @Option(help: "Message size in bytes (at least 8).") var size: Int = 64
    @Option(help: "Seconds to measure.") var duration: Double = 5
    @Option(help: "Seconds of warm-up before measuring.") var warmup: Double = 1
    @Option(help: "Number of cores (default: every allowed CPU).") var cores: Int?
    @Option(help: "Pin the cores to these CPUs (comma-separated).") var cpus: String?
    @Flag(help: "Print one JSON object instead of the table.") var json = false

    func validate() throws {
        guard connections > 0 else { throw ValidationError("--connections must be at least 1") }
        guard pipeline > 0 else { throw ValidationError("--pipeline must be at least 1") }
        guard size >= 8 else { throw ValidationError("--size must be at least 8 bytes") }
        guard duration > 0, warmup >= 0 else { throw ValidationError("--duration must be positive and --warmup not negative") }
    }

    func run() throws {
        let address = try parseAddress(host: host, port: port)
        raiseDescriptorLimit()
        var configuration = RuntimeConfiguration()
        if let list = try parseCPUs(cpus) {
            configuration.cores = .cpus(list)
        } else if let cores {
            guard cores > 0 else { throw ValidationError("--cores must be at least 1") }
            configuration.cores = .count(clampedCores(cores, program: "torus-echo client"))
        }
        let runtime: Runtime
        do {
            runtime = try Runtime(configuration)
        } catch {
            printError("torus-echo client: \(error)")
            throw ExitCode(1)
        }
        defer { runtime.shutdown(gracePeriod: .zero) }
        // Installed before the first connection: a signal stops the run, which reports nothing
        // (a part of a measurement would pass for a whole one) and exits 128+N.
        let signals = try SignalListener(stoppingSignals)
        let client = EchoClient(
            address: address, connections: connections, pipeline: pipeline, size: size,
            duration: .milliseconds(Int(duration * 1000)), warmup: .milliseconds(Int(warmup * 1000)))
        let report: ClientReport
        do {
            let outcome = try runtime.block { await signals.cancelling { try await client.run() } }
            if let signal = outcome.signal {
                printError("torus-echo client: stopped by \(signal) before the end of the run; no report")
                throw signalExit(signal)
            }
            report = try outcome.result.get()
        } catch let code as ExitCode {
            throw code
        } catch {
            printError("torus-echo client: \(error)")
            throw ExitCode(1)
        }
        say(json ? report.json : report.table)
        if report.mismatches > 0 { throw ExitCode(2) }
    }
}

TorusEcho.main()
