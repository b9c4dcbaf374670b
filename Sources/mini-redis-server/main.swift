// mini-redis-server: the seed's mini-redis on Torus. Speaks RESP2 (GET, SET with EX/PX, DEL,
// PING, PUBLISH, SUBSCRIBE, UNSUBSCRIBE, INFO [section ...]), works with redis-cli and
// redis-benchmark. INFO reports in redis's format, plus a `torus` section with the runtime's
// per-core counters; its `used_memory` is the process's resident set size.
//
//   mini-redis-server [--port 6379] [--host 127.0.0.1] [--cores N]
//                     [--maxclients 10000] [--timeout 0]
//                     [--client-query-buffer-limit 1gb] [--client-output-buffer-limit "pubsub 32mb 8mb 60"]
//                     [--loglevel notice] [--metrics-port N [--metrics-bind 127.0.0.1]]
//                     [--help] [--version]
//
// Prints "listening on ADDRESS" once ready; runs as a swift-service-lifecycle ServiceGroup
// that stops gracefully on SIGINT / SIGTERM (MiniRedisServer.swift's discussion lists the
// exit statuses).
import ArgumentParser
import Glibc

// Usage errors exit with status 1, as before ArgumentParser (whose default is 64); --help and
// --version exit 0.
do {
    var command = try MiniRedisServer.parseAsRoot()
    // `--help` parses as ArgumentParser's own help command, which prints the help.
    guard let server = command as? MiniRedisServer else {
        try command.run()
        exit(0)
    }
    exit(await server.serve())
} catch {
    if MiniRedisServer.exitCode(for: error) == .validationFailure {
        fail(MiniRedisServer.message(for: error) + "\nTry 'mini-redis-server --help' for more information.")
    }
    MiniRedisServer.exit(withError: error)
}
