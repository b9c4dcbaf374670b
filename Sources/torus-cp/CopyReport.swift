import Glibc
import Synchronization
import Torus

/// What a copy did: counts for `--stats` and `--progress`, and every failure (the copy of the
/// other files goes on, like cp).
final class CopyReport: Sendable {
    struct Counts {
        var files = 0
        var directories = 0
        var symbolicLinks = 0
        var skipped = 0
        var bytes: UInt64 = 0
        /// `bytes` split by how they moved (for --json: which route `auto` took).
        var bytesByRoute: [DataRoute: UInt64] = [:]
        var failures = 0
    }

    private let counts = Mutex(Counts())
    private let directRefusalShown = Atomic<Bool>(false)
    /// What the whole copy will move, once `SizeScan` has added it up (with --progress).
    private let expectedBytes = Mutex<UInt64?>(nil)
    let started = ContinuousClock.now

    var snapshot: Counts { counts.withLock { $0 } }

    func copiedBytes(_ bytes: UInt64, via route: DataRoute) {
        counts.withLock {
            $0.bytes += bytes
            $0.bytesByRoute[route, default: 0] += bytes
        }
    }
    func fileDone() { counts.withLock { $0.files += 1 } }
    func madeDirectory() { counts.withLock { $0.directories += 1 } }
    func madeLink() { counts.withLock { $0.symbolicLinks += 1 } }
    /// A FIFO or device node recreated (counted with the files).
    func madeSpecialFile() { counts.withLock { $0.files += 1 } }

    /// A file left alone (`-n` with an existing destination): counted for --stats, and nothing
    /// said, as cp says nothing.
    func skipped() {
        counts.withLock { $0.skipped += 1 }
    }

    /// A file copied, but not as it was when the copy began (it changed meanwhile): a warning,
    /// and exit status 1 as for a failure, since the copy may match no state the file was ever in.
    func changed(_ message: String) {
        counts.withLock { $0.failures += 1 }
        printError("torus-cp: warning: \(message)")
    }

    /// --direct where the file system refuses O_DIRECT: said once, then copied through the page
    /// cache (not a failure).
    func directRefused(_ path: String) {
        guard !directRefusalShown.exchange(true, ordering: .relaxed) else { return }
        printError("torus-cp: warning: O_DIRECT refused for \(quoted(path)) (Invalid argument): copying through the page cache where it is refused")
    }

    /// -v: `'SOURCE' -> 'DEST'` on stdout, one line per item, as cp prints it.
    func verbose(_ source: FilePath, _ destination: FilePath) {
        let line = "\(quoted(source)) -> \(quoted(destination))\n"
        // One write per line: lines from different cores never interleave.
        writeWhole(line, to: STDOUT_FILENO)
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

    /// User plus system CPU time of the process so far, in seconds.
    var cpuSeconds: Double {
        var usage = rusage()
        // Cannot fail for RUSAGE_SELF with a valid pointer; 0 s if it ever did.
        guard getrusage(RUSAGE_SELF.rawValue, &usage) == 0 else { return 0 }
        return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
    }

    func summary() -> String {
        let c = snapshot
        let seconds = elapsedSeconds
        let cpu = cpuSeconds
        let mebibytes = Double(c.bytes) / 1_048_576
        return "\(c.files) files, \(c.directories) directories, \(c.symbolicLinks) symbolic links, \(c.skipped) skipped, "
            + "\(c.failures) failed; \(decimal(mebibytes, 1)) MiB in \(decimal(seconds, 3)) s "
            + "(\(decimal(mebibytes / max(seconds, 1e-9), 1)) MiB/s); CPU \(decimal(cpu, 3)) s"
    }

    /// Sets the total the progress line measures against.
    func expect(bytes: UInt64) { expectedBytes.withLock { $0 = bytes } }

    /// One progress line: files, bytes, rate; once the total is known, the percentage done and
    /// the time left at the rate so far.
    func progressLine() -> String {
        let c = snapshot
        let seconds = max(elapsedSeconds, 1e-9)
        let mebibytes = Double(c.bytes) / 1_048_576
        let rate = mebibytes / seconds
        guard let total = expectedBytes.withLock({ $0 }), total > 0 else {
            return "\(c.files) files, \(decimal(mebibytes, 1)) MiB, \(decimal(rate, 1)) MiB/s"
        }
        let totalMebibytes = Double(total) / 1_048_576
        let percent = min(100, Double(c.bytes) / Double(total) * 100)
        let left = max(0, totalMebibytes - mebibytes)
        let eta = rate > 0 ? duration(left / rate) : "--"
        return "\(c.files) files, \(decimal(mebibytes, 1)) of \(decimal(totalMebibytes, 1)) MiB (\(decimal(percent, 0))%), "
            + "\(decimal(rate, 1)) MiB/s, ETA \(eta)"
    }
}

/// `42s`, `3m05s`, `1h02m`.
func duration(_ seconds: Double) -> String {
    let whole = Int(seconds.rounded(.up))
    if whole < 60 { return "\(whole)s" }
    if whole < 3600 { return "\(whole / 60)m" + (whole % 60 < 10 ? "0" : "") + "\(whole % 60)s" }
    return "\(whole / 3600)h" + (whole % 3600 / 60 < 10 ? "0" : "") + "\(whole % 3600 / 60)m"
}

/// Writes `message` and a newline to stderr.
func printError(_ message: String) { writeError(message + "\n") }

/// Writes `text` to stderr as it is.
func writeError(_ text: String) {
    writeWhole(text, to: STDERR_FILENO)
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
