import Glibc
import Torus

/// Writes "mini-redis-server: MESSAGE" to standard error at once.
func warn(_ message: String) {
    writeWhole("mini-redis-server: \(message)\n", to: STDERR_FILENO)
}

/// Reports a start-up failure and exits with status 1.
func fail(_ message: String) -> Never {
    warn(message)
    exit(1)
}

/// Writes a line to stdout at once (unbuffered, so a parent process sees it immediately).
func say(_ message: String) {
    writeWhole(message + "\n", to: STDOUT_FILENO)
}
