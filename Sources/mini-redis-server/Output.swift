import Glibc

/// Writes "mini-redis-server: MESSAGE" to standard error at once.
func warn(_ message: String) {
    let line = "mini-redis-server: \(message)\n"
    _ = line.withCString { write(2, $0, strlen($0)) }
}

/// Reports a start-up failure and exits with status 1.
func fail(_ message: String) -> Never {
    warn(message)
    exit(1)
}

/// Writes a line to stdout at once (unbuffered, so a parent process sees it immediately).
func say(_ message: String) {
    let line = message + "\n"
    _ = line.withCString { write(1, $0, strlen($0)) }
}
