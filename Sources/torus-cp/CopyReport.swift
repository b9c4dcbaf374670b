import Glibc
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
        let mebibytes = Double(c.bytes) / 1_048_576
        return "\(c.files) files, \(c.directories) directories, \(c.symbolicLinks) symbolic links, \(c.skipped) skipped, "
            + "\(c.failures) failed; \(decimal(mebibytes, 1)) MiB in \(decimal(seconds, 3)) s "
            + "(\(decimal(mebibytes / max(seconds, 1e-9), 1)) MiB/s); CPU \(decimal(cpu, 3)) s"
    }

    /// One progress line: files, bytes, rate.
    func progressLine() -> String {
        let c = snapshot
        let seconds = max(elapsedSeconds, 1e-9)
        let mebibytes = Double(c.bytes) / 1_048_576
        return "\(c.files) files, \(decimal(mebibytes, 1)) MiB, \(decimal(mebibytes / seconds, 1)) MiB/s"
    }
}

/// Writes `message` and a newline to stderr.
func printError(_ message: String) { writeError(message + "\n") }

/// Writes `text` to stderr as it is.
func writeError(_ text: String) {
    _ = text.withCString { write(2, $0, strlen($0)) }
}

/// `value` with `places` decimals, rounded (what `%.Nf` prints, without Foundation: loading
/// Foundation costs a command as short as one small copy several milliseconds).
func decimal(_ value: Double, _ places: Int) -> String {
    var scale = 1.0
    for _ in 0..<places { scale *= 10 }
    let scaled = (abs(value) * scale).rounded()
    guard scaled < 9e18 else { return "\(value)" }
    let units = Int(scaled)
    let whole = units / Int(scale)
    var fraction = String(units % Int(scale))
    while fraction.count < places { fraction = "0" + fraction }
    return (value < 0 && units != 0 ? "-" : "") + "\(whole)" + (places > 0 ? "." + fraction : "")
}
