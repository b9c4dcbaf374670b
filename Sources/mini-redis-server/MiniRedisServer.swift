import ArgumentParser
import MiniRedis
import Torus
import TorusVersion

/// The command line: options, their checks, and what they mean for the server.
struct MiniRedisServer: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mini-redis-server",
        abstract:
            "mini-redis on Torus: a RESP2 server (GET, SET with EX/PX, DEL, PING, PUBLISH, SUBSCRIBE, UNSUBSCRIBE) for redis-cli and redis-benchmark.",
        discussion: """
            Prints "listening on ADDRESS" once ready and logs to standard output, as redis does. \
            SIGTERM and SIGINT stop it gracefully: new connections are refused, the clients' \
            connections are closed, and the runtime gets up to 5 seconds to finish.

            Exit status: 0 when the server ends by itself; 128 + the signal after a graceful \
            shutdown on a signal (143 for SIGTERM, 130 for SIGINT), as a shell reports a \
            process the signal ended (a systemd unit says SuccessExitStatus=143); 1 for a usage \
            error or a start-up failure (a port already in use, say).

            With --metrics-port, GET /metrics on that port answers in the Prometheus text format: \
            the runtime's per-core counters (torus_core_*) and the server's (mini_redis_*).
            """,
        version: torusVersion)

    @Option(help: "TCP port (0: pick a free one; the \"listening on\" line says which).") var port: UInt16 = 6379
    @Option(help: "Address to listen on: an IP address, or a host name (its first address).") var host: String = "127.0.0.1"
    @Option(help: "Number of cores (default: every allowed CPU; more than that is clamped, with a warning).") var cores: Int?
    @Option(help: ArgumentHelp("As redis's: clients beyond N are told \"-ERR max number of clients reached\" and closed.", valueName: "N"))
    var maxclients: Int = 10_000
    @Option(help: ArgumentHelp("As redis's: clients idle that many seconds are closed (0: never; subscribers are exempt).", valueName: "seconds"))
    var timeout: Int = 0
    @Option(
        help: ArgumentHelp(
            "The most bytes one request may take, in redis's units (1000, 64kb, 512mb, 1gb); a client sending more is disconnected.",
            valueName: "size"))
    var clientQueryBufferLimit: String = "1gb"
    @Option(
        help: ArgumentHelp(
            "As redis's, for the pubsub class: a subscriber with more output waiting than HARD bytes, or than SOFT for SECONDS, is disconnected and logged (0 turns a limit off).",
            valueName: "pubsub HARD SOFT SECONDS"))
    var clientOutputBufferLimit: String = "pubsub 32mb 8mb 60"
    @Option(help: ArgumentHelp("As redis's: the least important messages logged (debug, verbose, notice, warning).", valueName: "level"))
    var loglevel: LogLevel = .notice
    @Option(
        help: ArgumentHelp("Serve Prometheus metrics at http://ADDRESS:PORT/metrics (0: pick a free port, logged; default: off).", valueName: "port"))
    var metricsPort: UInt16?
    @Option(help: ArgumentHelp("The address the metrics endpoint listens on.", valueName: "address"))
    var metricsBind: String = "127.0.0.1"

    /// `--client-query-buffer-limit` in bytes, if it is a size of at least 1 KiB.
    var maxRequestSize: Int? { parseMemorySize(clientQueryBufferLimit).flatMap { $0 >= 1 << 10 ? $0 : nil } }

    /// `--client-output-buffer-limit`, if it is the pubsub class's limits.
    var pubsubOutputLimit: OutputBufferLimit? {
        let parts = clientOutputBufferLimit.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "pubsub" else { return nil }
        return OutputBufferLimit(parsing: String(parts[1]))
    }

    /// `--metrics-bind` and `--metrics-port`, when the endpoint is on.
    var metricsAddress: SocketAddress? {
        get throws {
            guard let metricsPort else { return nil }
            return try SocketAddress(host: metricsBind, port: metricsPort)
        }
    }

    func validate() throws {
        if let cores, cores <= 0 { throw ValidationError("--cores needs a positive number, got \(cores)") }
        guard maxclients > 0 else { throw ValidationError("--maxclients needs a positive number, got \(maxclients)") }
        guard timeout >= 0 else { throw ValidationError("--timeout needs a number of seconds (0: never), got \(timeout)") }
        guard maxRequestSize != nil else {
            throw ValidationError("--client-query-buffer-limit needs a size of at least 1kb (like 1gb, 512mb, 65536), got \(clientQueryBufferLimit)")
        }
        guard pubsubOutputLimit != nil else {
            throw ValidationError(
                "--client-output-buffer-limit takes \"pubsub HARD SOFT SECONDS\" (like \"pubsub 32mb 8mb 60\"), got \(clientOutputBufferLimit)")
        }
        do { _ = try metricsAddress } catch {
            throw ValidationError("--metrics-bind needs an IP address, got \(metricsBind)")
        }
    }

    /// `--cores`, clamped to the CPUs this process may use: more core threads than CPUs would
    /// only time-slice each other.
    var coreLayout: RuntimeConfiguration.Cores {
        guard let cores else { return .automatic }
        let available = Runtime.allowedCPUs.count
        guard cores > available, available > 0 else { return .count(cores) }
        warn("--cores \(cores) is more than the \(available) CPUs this process may use; using \(available)")
        return .count(available)
    }
}
