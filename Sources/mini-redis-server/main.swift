// mini-redis-server: the seed's mini-redis on Torus. Speaks RESP2 (GET, SET with EX/PX, DEL,
// PING, PUBLISH, SUBSCRIBE, UNSUBSCRIBE, INFO [section ...]), works with redis-cli and
// redis-benchmark. INFO reports in redis's format, plus a `torus` section with the runtime's
// per-core counters; its `used_memory` is the process's resident set size.
//
//   mini-redis-server [--port 6379] [--host 127.0.0.1] [--cores N]
//                     [--maxclients 10000] [--timeout 0]
//                     [--client-query-buffer-limit 1gb] [--client-output-buffer-limit "pubsub 32mb 8mb 60"]
//                     [--help] [--version]
//
// Prints "listening on ADDRESS" once ready; stops gracefully on SIGINT / SIGTERM. Usage errors
// and start-up failures exit 1 (as they did when the arguments were parsed by hand; redis's
// own server exits 1 too).
import ArgumentParser
import Glibc
import MiniRedis
import Torus
import TorusVersion

func warn(_ message: String) {
    writeWhole("mini-redis-server: \(message)\n", to: STDERR_FILENO)
}

func fail(_ message: String) -> Never {
    warn(message)
    exit(1)
}

/// Writes a line to stdout at once (unbuffered, so a parent process sees it immediately).
func say(_ message: String) {
    writeWhole(message + "\n", to: STDOUT_FILENO)
}

struct MiniRedisServer: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mini-redis-server",
        abstract: "mini-redis on Torus: a RESP2 server (GET, SET with EX/PX, DEL, PING, PUBLISH, SUBSCRIBE, UNSUBSCRIBE) for redis-cli and redis-benchmark.",
        discussion: """
            Prints "listening on ADDRESS" once ready and stops gracefully on SIGINT or SIGTERM. \
            Usage errors and start-up failures (a port already in use, say) exit with status 1.
            """,
        version: torusVersion)

    @Option(help: "TCP port (0: pick a free one; the \"listening on\" line says which).") var port: UInt16 = 6379
    @Option(help: "Address to listen on: an IP address, or a host name (its first address).") var host: String = "127.0.0.1"
    @Option(help: "Number of cores (default: every allowed CPU; more than that is clamped, with a warning).") var cores: Int?
    @Option(help: ArgumentHelp("As redis's: clients beyond N are told \"-ERR max number of clients reached\" and closed.", valueName: "N"))
    var maxclients: Int = 10_000
    @Option(help: ArgumentHelp("As redis's: clients idle that many seconds are closed (0: never; subscribers are exempt).", valueName: "seconds"))
    var timeout: Int = 0
    @Option(help: ArgumentHelp("The most bytes one request may take, in redis's units (1000, 64kb, 512mb, 1gb); a client sending more is disconnected.", valueName: "size"))
    var clientQueryBufferLimit: String = "1gb"
    @Option(help: ArgumentHelp("As redis's, for the pubsub class: a subscriber with more output waiting than HARD bytes, or than SOFT for SECONDS, is disconnected and logged (0 turns a limit off).", valueName: "pubsub HARD SOFT SECONDS"))
    var clientOutputBufferLimit: String = "pubsub 32mb 8mb 60"

    /// `--client-query-buffer-limit` in bytes, if it is a size of at least 1 KiB.
    var maxRequestSize: Int? { parseMemorySize(clientQueryBufferLimit).flatMap { $0 >= 1 << 10 ? $0 : nil } }

    /// `--client-output-buffer-limit`, if it is the pubsub class's limits.
    var pubsubOutputLimit: OutputBufferLimit? {
        let parts = clientOutputBufferLimit.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "pubsub" else { return nil }
        return OutputBufferLimit(parsing: String(parts[1]))
    }

    func validate() throws {
        if let cores, cores <= 0 { throw ValidationError("--cores needs a positive number, got \(cores)") }
        guard maxclients > 0 else { throw ValidationError("--maxclients needs a positive number, got \(maxclients)") }
        guard timeout >= 0 else { throw ValidationError("--timeout needs a number of seconds (0: never), got \(timeout)") }
        guard maxRequestSize != nil else {
            throw ValidationError("--client-query-buffer-limit needs a size of at least 1kb (like 1gb, 512mb, 65536), got \(clientQueryBufferLimit)")
        }
        guard pubsubOutputLimit != nil else {
            throw ValidationError("--client-output-buffer-limit takes \"pubsub HARD SOFT SECONDS\" (like \"pubsub 32mb 8mb 60\"), got \(clientOutputBufferLimit)")
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

    func run() throws {
        let server = Server(
            maxClients: maxclients, idleTimeoutSeconds: timeout, maxRequestSize: maxRequestSize!,
            pubsubOutputLimit: pubsubOutputLimit!, log: say)
        let host = host
        let port = port
        do {
            try Runtime.run(RuntimeConfiguration(cores: coreLayout)) {
                // An IP address is taken as it is; a name is resolved (on the blocking pool).
                guard let address = try await SocketAddress.resolve(host: host, port: port).first else { fail("no address for \(host)") }
                // Graceful shutdown: the server runs as a child task; a signal cancels it, which
                // stops every accept loop and connection, and then the runtime shuts down.
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask {
                        try await server.run(on: address) { bound in
                            say("listening on \(bound)")
                        }
                    }
                    group.addTask {
                        let signal = try await waitForSignal([.interrupt, .terminate])
                        say("received \(signal), shutting down")
                    }
                    try await group.next()
                    group.cancelAll()
                }
            }
        } catch {
            fail("\(error)")
        }
    }
}

// Usage errors exit with status 1, as before ArgumentParser (whose default is 64); --help and
// --version exit 0.
do {
    var command = try MiniRedisServer.parseAsRoot()
    try command.run()
} catch {
    if MiniRedisServer.exitCode(for: error) == .validationFailure {
        fail(MiniRedisServer.message(for: error) + "\nTry 'mini-redis-server --help' for more information.")
    }
    MiniRedisServer.exit(withError: error)
}
