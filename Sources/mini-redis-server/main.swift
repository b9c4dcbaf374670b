// mini-redis-server: the seed's mini-redis on Torus. Speaks RESP2 (GET, SET with EX/PX, DEL,
// PING, PUBLISH, SUBSCRIBE, UNSUBSCRIBE, INFO [section ...]), works with redis-cli and
// redis-benchmark. INFO reports in redis's format, plus a `torus` section with the runtime's
// per-core counters; its `used_memory` is the process's resident set size.
//
//   mini-redis-server [--port 6379] [--host 127.0.0.1] [--cores N]
//                     [--maxclients 10000] [--timeout 0]
//                     [--client-query-buffer-limit 1gb] [--client-output-buffer-limit "pubsub 32mb 8mb 60"]
//
// --maxclients: as redis's, clients beyond it get "-ERR max number of clients reached" and are
// closed. --timeout: as redis's, clients idle that many seconds are closed (0: never;
// subscribers are exempt).
// --client-query-buffer-limit: the most bytes one request may take (redis's setting of that
// name, same units: 1000, 64kb, 512mb, 1gb); a client sending more is disconnected.
// --client-output-buffer-limit: as redis's, for the pubsub class: a subscriber with more output
// waiting than the hard limit, or than the soft one for that many seconds, is disconnected and
// logged (0 turns a limit off).
//
// Prints "listening on ADDRESS" once ready; stops gracefully on SIGINT / SIGTERM.
import Glibc
import MiniRedis
import Torus

func warn(_ message: String) {
    let line = "mini-redis-server: \(message)\n"
    _ = line.withCString { write(2, $0, strlen($0)) }
}

func fail(_ message: String) -> Never {
    warn(message)
    exit(1)
}

/// Writes a line to stdout at once (unbuffered, so a parent process sees it immediately).
func say(_ message: String) {
    let line = message + "\n"
    _ = line.withCString { write(1, $0, strlen($0)) }
}

var port = "6379"
var host = "127.0.0.1"
var cores = RuntimeConfiguration.Cores.automatic
var maxRequestSize = 1 << 30
var pubsubOutputLimit = OutputBufferLimit.pubsub
var maxClients = 10_000
var idleTimeout = 0
var arguments = CommandLine.arguments.dropFirst()
while let flag = arguments.popFirst() {
    guard let value = arguments.popFirst() else { fail("\(flag) needs a value") }
    switch flag {
    case "--port": port = value
    case "--host": host = value
    case "--cores":
        guard let count = Int(value), count > 0 else { fail("--cores needs a positive number, got \(value)") }
        // More core threads than CPUs would only time-slice each other.
        let available = Runtime.allowedCPUs.count
        if count > available && available > 0 {
            warn("--cores \(count) is more than the \(available) CPUs this process may use; using \(available)")
            cores = .count(available)
        } else {
            cores = .count(count)
        }
    case "--client-query-buffer-limit":
        guard let size = parseMemorySize(value), size >= 1 << 10 else {
            fail("--client-query-buffer-limit needs a size of at least 1kb (like 1gb, 512mb, 65536), got \(value)")
        }
        maxRequestSize = size
    case "--maxclients":
        guard let count = Int(value), count > 0 else { fail("--maxclients needs a positive number, got \(value)") }
        maxClients = count
    case "--timeout":
        guard let seconds = Int(value), seconds >= 0 else { fail("--timeout needs a number of seconds (0: never), got \(value)") }
        idleTimeout = seconds
    case "--client-output-buffer-limit":
        let parts = value.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "pubsub", let limit = OutputBufferLimit(parsing: String(parts[1])) else {
            fail("--client-output-buffer-limit takes \"pubsub HARD SOFT SECONDS\" (like \"pubsub 32mb 8mb 60\"), got \(value)")
        }
        pubsubOutputLimit = limit
    default:
        fail("unknown option \(flag) (options: --port P --host H --cores N --maxclients N --timeout SECONDS --client-query-buffer-limit SIZE --client-output-buffer-limit \"pubsub HARD SOFT SECONDS\")")
    }
}
guard let portNumber = UInt16(port) else { fail("invalid port \"\(port)\"") }

let address: SocketAddress
do {
    address = try SocketAddress(host: host, port: portNumber)
} catch {
    fail("\(error)")
}

let server = Server(
    maxClients: maxClients, idleTimeoutSeconds: idleTimeout, maxRequestSize: maxRequestSize, pubsubOutputLimit: pubsubOutputLimit, log: say)
do {
    try Runtime.run(RuntimeConfiguration(cores: cores)) {
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
