import Logging
import Synchronization
import TorusChannels

/// A job that held a core: reported by the stall watchdog (``RuntimeConfiguration/onStall``).
public struct StallReport: Sendable, CustomStringConvertible {
    /// The core that was blocked.
    public var core: Int
    /// How long the job had run when this report was made (within a quarter of the threshold).
    public var duration: Duration
    /// false when the stall is first seen, true once the job has returned.
    public var ended: Bool

    /// The core, the duration and whether the stall has ended, for a log line.
    public var description: String {
        ended
            ? "core \(core) was blocked by one job for \(duration)"
            : "core \(core) has been running one job for \(duration): every other task on it waits"
    }
}

/// Watches every core from a thread of its own: a core that is neither parked nor busy-polling
/// and has started no job since the last look is running one job all that time. Looking costs
/// the cores nothing but one relaxed atomic increment per job; the watchdog wakes four times per
/// threshold.
final class StallWatchdog: Sendable {
    private let stop = ConditionLock(false)
    private let thread = Mutex<OSThread?>(nil)

    init?(cores: [Core], threshold: Duration?, logger: Logger, onStall: (@Sendable (StallReport) -> Void)?) {
        guard let threshold else { return nil }
        let interval = max(threshold / 4, .microseconds(250))
        let started = OSThread.start(name: "torus-watchdog") { [stop] in
            var watch = cores.map { CoreWatch(core: $0) }
            while true {
                let now = monotonicNanoseconds()
                let stopping = stop.wait(deadlineNanoseconds: now + interval.clampedNanoseconds) { $0 ? true : nil }
                if stopping == true { return }
                let sampled = monotonicNanoseconds()
                for index in watch.indices {
                    guard let report = watch[index].look(at: sampled, threshold: threshold) else { continue }
                    logger.warning("\(report)", metadata: ["core": "\(report.core)", "duration": "\(report.duration)"])
                    onStall?(report)
                }
            }
        }
        guard let started else { return nil }
        thread.withLock { $0 = started }
    }

    /// Stops and joins the watchdog thread. Idempotent.
    func shutdown() {
        stop.withLockBroadcasting { $0 = true }
        let joining = thread.withLock { thread -> OSThread? in
            defer { thread = nil }
            return thread
        }
        joining?.join()
    }
}

/// What the watchdog remembers about one core between looks.
private struct CoreWatch {
    let core: Core
    var lastJobs: UInt64 = 0
    /// When the current job was first seen running (nil while the core makes progress).
    var busySince: UInt64?
    var reported = false

    init(core: Core) { self.core = core }

    /// Compares the core with the last look; returns a report when a stall starts or ends.
    mutating func look(at now: UInt64, threshold: Duration) -> StallReport? {
        let jobs = core.jobsStarted.load(ordering: .relaxed)
        // A core that is parked or busy-polling (``RuntimeConfiguration/busyPoll``) is idle.
        let idle = core.parked.load(ordering: .relaxed) || core.polling.load(ordering: .relaxed)
        defer { lastJobs = jobs }
        if jobs != lastJobs || idle {
            defer {
                busySince = nil
                reported = false
            }
            if reported, let busySince {
                return StallReport(core: core.index, duration: .nanoseconds(Int64(now - busySince)), ended: true)
            }
            return nil
        }
        guard let since = busySince else {
            busySince = now
            return nil
        }
        let running = Duration.nanoseconds(Int64(now - since))
        if !reported && running >= threshold {
            reported = true
            return StallReport(core: core.index, duration: running, ended: false)
        }
        return nil
    }
}
