import Foundation
import Synchronization

/// What a copy did: counts for `--stats` and `--progress`, and every failure (the copy of the
/// other files goes on, like cp).
final class CopyReport: Sendable {
    struct Counts {
        var files = 0
        var directories = 0
        var symbolicLinks = 0
        var skipped = 0
        var bytes: UInt64 = 0
        var failures = 0
    }

    private let counts = Mutex(Counts())
    let started = ContinuousClock.now

    var snapshot: Counts { counts.withLock { $0 } }

    func copiedFile(bytes: UInt64) { counts.withLock { $0.files += 1; $0.bytes += bytes } }
    func copiedBytes(_ bytes: UInt64) { counts.withLock { $0.bytes += bytes } }
    func fileDone() { counts.withLock { $0.files += 1 } }
    func madeDirectory() { counts.withLock { $0.directories += 1 } }
    func madeLink() { counts.withLock { $0.symbolicLinks += 1 } }

    /// A file left alone (special file, `-n` with an existing destination), with a warning.
    func skipped(_ message: String) {
        counts.withLock { $0.skipped += 1 }
        printError("torus-cp: \(message)")
    }

    /// A failure: reported now on stderr with the path and the reason.
    func failed(_ message: String) {
        counts.withLock { $0.failures += 1 }
        printError("torus-cp: \(message)")
    }

    var elapsedSeconds: Double {
        let (seconds, attoseconds) = (ContinuousClock.now - started).components
        return Double(seconds) + Double(attoseconds) / 1e18
    }

    func summary() -> String {
        let c = snapshot
        let seconds = elapsedSeconds
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        let cpu = Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
        return String(format: "%d files, %d directories, %d symbolic links, %d skipped, %d failed; %.1f MiB in %.3f s (%.1f MiB/s); CPU %.3f s",
                      c.files, c.directories, c.symbolicLinks, c.skipped, c.failures, Double(c.bytes) / 1_048_576, seconds,
                      Double(c.bytes) / 1_048_576 / max(seconds, 1e-9), cpu)
    }

    /// One progress line: files, bytes, rate.
    func progressLine() -> String {
        let c = snapshot
        let seconds = max(elapsedSeconds, 1e-9)
        return String(format: "%d files, %.1f MiB, %.1f MiB/s", c.files, Double(c.bytes) / 1_048_576, Double(c.bytes) / 1_048_576 / seconds)
    }
}

func printError(_ message: String) {
    let line = message + "\n"
    _ = line.withCString { write(2, $0, strlen($0)) }
}
