import Glibc

/// When a key stops existing: nanoseconds on the clock `ContinuousClock` reads on Linux
/// (`CLOCK_BOOTTIME`, which keeps counting while the machine sleeps, as a deadline should).
///
/// Why not `ContinuousClock.Instant`: it is a resilient standard-library type, so a table entry
/// holding one is copied, compared and destroyed through value witnesses on every GET and SET
/// (4% of mini-redis's CPU under pipelined load); a plain integer makes the entry a fixed-layout
/// value the compiler handles inline.
struct ExpiryTime: Comparable, Sendable {
    let nanoseconds: Int64

    /// The clock's reading now.
    static var now: ExpiryTime {
        var time = timespec()
        let result = clock_gettime(CLOCK_BOOTTIME, &time)
        // CLOCK_BOOTTIME exists on every kernel Torus runs on (2.6.39+) and `time` is a valid
        // local: a failure here is a broken system, not something to serve through.
        precondition(result == 0, "clock_gettime(CLOCK_BOOTTIME) failed: errno \(errno)")
        return ExpiryTime(nanoseconds: Int64(time.tv_sec) &* 1_000_000_000 &+ Int64(time.tv_nsec))
    }

    /// `duration` after this time, saturating at the end of time (an expiry of 2^62 ms is
    /// accepted by SET and must not wrap into the past).
    func advanced(by duration: Duration) -> ExpiryTime {
        let (seconds, attoseconds) = duration.components
        let (whole, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        let (total, overflowAgain) = whole.addingReportingOverflow(attoseconds / 1_000_000_000)
        let (end, overflowLast) = nanoseconds.addingReportingOverflow(total)
        if overflow || overflowAgain || overflowLast { return ExpiryTime(nanoseconds: .max) }
        return ExpiryTime(nanoseconds: end)
    }

    static func < (lhs: ExpiryTime, rhs: ExpiryTime) -> Bool { lhs.nanoseconds < rhs.nanoseconds }
}
