import Glibc
import Synchronization
import TorusChannels
import TorusRing

/// One core of a Torus runtime: a pinned thread that owns one io_uring ring and runs the tasks
/// placed on it.
///
/// A `Core` is both a `TaskExecutor` (tasks spawned with it as their preference run every
/// partial task here) and a `SerialExecutor` (an actor can use it as its executor and is then
/// pinned to this core). Work enqueued from the core's own thread goes straight to a local run
/// queue without atomics; work from any other thread goes through a lock-free mailbox and, if
/// the core is asleep in the kernel, rings its doorbell: `IORING_OP_MSG_RING` from another core,
/// a write to an eventfd from any other thread. The ring itself, its operations and the doorbell
/// belong to the core's `RingDriver`, which the core's loop calls.
///
/// Cores are created by ``Runtime``; get one with ``Core/current`` or ``Runtime/cores``.
public final class Core: TaskExecutor, SerialExecutor, @unchecked Sendable {
    // @unchecked Sendable: the fields below the "core thread only" mark are touched only on the
    // core's own thread (enforced by `assertOnCore()` in debug builds); the rest are immutable
    // after start-up or atomics.

    /// The position of this core in ``Runtime/cores``.
    public let index: Int
    /// The CPU the thread is pinned to, or `nil` when pinning is off.
    public let cpu: Int?

    /// The runtime's shared state, which owns this core (``RuntimeShared/cores``).
    ///
    /// `unowned(unsafe)`: a strong reference back made every runtime's cores, operation tables
    /// and blocking pool a cycle that was never freed (about 185 KB per runtime; it kept
    /// LeakSanitizer off in CI). Safe because it is read only on this core's own thread while
    /// the core runs (through ``Core/current`` or the core's loop): the core's thread is joined
    /// by the shutdown, which the ``Runtime`` (holding the shared state) runs before it goes.
    /// A weak reference would cost a side-table load on every spawn.
    unowned(unsafe) let shared: RuntimeShared
    let mailbox = Mailbox()
    /// True while the core is (about to be) blocked in `io_uring_enter` waiting for completions.
    let parked = Atomic<Bool>(false)
    /// Jobs started, for the stall watchdog on another thread (``statistics`` is core-only).
    let jobsStarted = Atomic<UInt64>(0)
    /// True while the core busy-polls for work (``RuntimeConfiguration/busyPoll``): idle, as
    /// parked is, for the stall watchdog; producers still see it unparked and skip the doorbell.
    let polling = Atomic<Bool>(false)
    let lifecycle = Atomic<UInt8>(CoreLifecycle.starting.rawValue)
    /// ``RuntimeConfiguration/busyPoll`` in nanoseconds: 0 parks at once.
    let busyPollNanoseconds: UInt64
    /// The ring, its operations, provided buffers and doorbell. Core-thread only, except its
    /// wake-up (``RingDriver/wake(from:)``).
    let driver: RingDriver

    // Written once by the core thread before the runtime publishes the core.
    private(set) var ownerThread = pthread_t()

    // MARK: core thread only
    // `@exclusivity(unchecked)`: these are touched only on the core's thread, one job at a time,
    // so the dynamic exclusivity checks Swift adds to class properties (a runtime call per
    // access, measurable on the per-operation path) buy nothing here.
    @exclusivity(unchecked) var local = JobQueue()
    /// Tasks spawned through the runtime that are running on this core.
    @exclusivity(unchecked) var tasks = TaskSlab()
    /// The executor's counters (jobs run, parks, mailbox messages); the driver keeps its own.
    @exclusivity(unchecked) var executorStatistics = CoreStatistics()

    /// Completions handled, jobs run, parks: plain counters, readable on the core itself
    /// (`await core.run { core.statistics }`).
    public var statistics: CoreStatistics {
        var statistics = executorStatistics
        statistics.completions = driver.statistics.completions
        statistics.wakeupsByMessageRing = driver.statistics.wakeupsByMessageRing
        statistics.wakeupsByDoorbell = driver.statistics.wakeupsByDoorbell
        return statistics
    }

    /// The smallest ring a core uses (``RingDriver/minimumRingEntries``).
    static var minimumRingEntries: UInt32 { RingDriver.minimumRingEntries }

    init(index: Int, cpu: Int?, shared: RuntimeShared, busyPoll: Duration = .zero) {
        self.busyPollNanoseconds = busyPoll.clampedNanoseconds
        self.index = index
        self.cpu = cpu
        self.shared = shared
        driver = RingDriver(
            receiveBuffers: ProvidedBufferPool(
                initialCount: shared.receiveBuffers.count, bufferSize: shared.receiveBuffers.size,
                limit: shared.receiveBuffers.limit, bundles: shared.receiveBuffers.bundles, logger: shared.logger, coreIndex: index))
    }

    /// This core's entry in TorusChannels' thread slot (``RuntimeThread``), kept alive here for
    /// as long as the core's thread runs. Set once, on the core thread, before any task runs.
    private var threadRegistration: RuntimeThread.Registration?

    /// The core whose thread is running the caller, or `nil` off the runtime's threads.
    public static var current: Core? { currentUnretained?.takeUnretainedValue() }

    /// The core whose thread is running the caller, not retained: for hot paths that only
    /// look at it (retaining means two atomic operations on a count every core's thread
    /// touches). SAFETY: the thread's start closure holds its core until the thread ends, so
    /// the pointer in the key is valid for as long as this thread can read it.
    private static var currentUnretained: Unmanaged<Core>? {
        pthread_getspecific(CurrentCoreKey.key).map { Unmanaged<Core>.fromOpaque($0) }
    }

    /// Whether the caller runs on this core's thread.
    public var isCurrent: Bool { pthread_equal(pthread_self(), ownerThread) != 0 }

    /// Whether the caller runs on a core's thread and that core is the current task's executor
    /// preference: where an operation submitted inline is also settled and retried.
    ///
    /// A `nonisolated(nonsending)` read that finds no caller isolation (`#isolation == nil`)
    /// is normally such a task. Not always: Swift 6.3 calls a `nonisolated(nonsending)` method
    /// converted to a plain `async` function value with no isolation and without leaving the
    /// caller's actor, whose thread may be another core's or none (a review found it). Reading
    /// the preference takes the task's status-record lock, as one executor switch does.
    ///
    /// No cheaper check is sound: tagging the jobs that reach the core's `TaskExecutor` role
    /// was tried, and a review showed the task's preference can change inside such a job with
    /// no hop (`withTaskExecutorPreference` with a `nonisolated(nonsending)` function value as
    /// its operation), and that any `any TaskExecutor` caller reaches that role
    /// (PreferredCoreCheckTests).
    static var isTaskOnItsPreferredCore: Bool {
        // Not through `current`, which retains and releases the core: -1% of a 4 KiB read from
        // 32 tasks (1363 against 1378 ns, medians of 5 interleaved rounds).
        guard let core = currentUnretained else { return false }
        let preferred = withUnsafeCurrentTask { $0?.unownedTaskExecutor }
        return core._withUnsafeGuaranteedRef { preferred == $0.asUnownedTaskExecutor() }
    }

    @inline(__always) func assertOnCore(_ function: StaticString = #function) {
        assert(isCurrent, "\(function) must run on core \(index)'s thread")
    }

    /// Sets up the ring and doorbell on the core thread. Called first thing on the new thread.
    func startOnCurrentThread(entries: UInt32) throws(RuntimeError) {
        ownerThread = pthread_self()
        checkPthread(pthread_setspecific(CurrentCoreKey.key, Unmanaged.passUnretained(self).toOpaque()), "pthread_setspecific")
        // The channels module finds this core's timers through its own thread slot.
        let registration = RuntimeThread.Registration(self)
        threadRegistration = registration
        RuntimeThread.register(registration)
        if let cpu {
            let result = CPUAffinity.pinCurrentThread(to: cpu)
            if result != 0 { throw .pinningFailed(cpu: cpu, errno: result) }
        }
        let ring: Ring
        do { ring = try Ring(entries: entries) } catch { throw .ringSetup(core: index, error) }
        guard let eventFD = EventFD() else { throw .doorbellSetup(core: index, errno: errno) }
        driver.start(ring: ring, doorbell: eventFD)
        lifecycle.store(CoreLifecycle.running.rawValue, ordering: .releasing)
    }

    // MARK: Executor conformance

    /// Enqueues a job: onto the local run queue from this core's thread, through the mailbox
    /// from anywhere else. After the core has stopped, jobs go to Swift's global executor so
    /// that no task is ever stranded.
    public func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        if isCurrent {
            local.push(job)
        } else {
            send(.job(job))
        }
    }

    /// This core as a `SerialExecutor`, for an actor pinned to it (`nonisolated var
    /// unownedExecutor: UnownedSerialExecutor { core.asUnownedSerialExecutor() }`).
    public func asUnownedSerialExecutor() -> UnownedSerialExecutor {
        UnownedSerialExecutor(ordinary: self)
    }

    /// This core as a `TaskExecutor`, for `Task(executorPreference:)` and
    /// `withTaskExecutorPreference`.
    public func asUnownedTaskExecutor() -> UnownedTaskExecutor {
        UnownedTaskExecutor(ordinary: self)
    }

    /// Traps unless the caller runs on this core's thread (Swift calls it to check an actor's
    /// isolation).
    public func checkIsolated() {
        precondition(isCurrent, "expected to run on Torus core \(index), but running on another thread")
    }

    /// Whether the caller runs on this core's thread.
    public func isIsolatingCurrentContext() -> Bool? { isCurrent }

    // MARK: Work from other threads

    /// Runs `work` on this core's thread, from any thread. The closure runs between jobs, so
    /// it should be short; spawn a task for anything that awaits.
    public func execute(_ work: @escaping @Sendable () -> Void) {
        if isCurrent, !driver.stopping {
            work()
        } else {
            send(.closure(work))
        }
    }

    /// Runs `body` on this core and returns its result to the caller's executor: the way to hand
    /// a piece of work to another core and come back (`smp::submit_to` in seastar).
    ///
    /// Cancel safety: the body runs in the calling task, on this core: a cancellation or deadline
    /// reaches the waits inside it, and each API's own note applies. The hop to the core and back
    /// loses nothing.
    public func run<T: Sendable>(_ body: sending () async throws -> T) async rethrows -> T {
        try await withTaskExecutorPreference(self) { try await body() }
    }

    /// Delivers a message to this core from any thread, waking it if it sleeps.
    func send(_ item: MailboxItem) {
        if mailbox.push(item) {
            wakeIfParked()
        } else {
            Core.runElsewhere(item)
        }
    }

    /// What happens to a message for a core that has stopped: jobs and closures still run (on
    /// Swift's global executor); timers fire at once; cancels and stops have nothing left to do.
    static func runElsewhere(_ item: MailboxItem) {
        switch item {
        case .job(let job), .timer(let job, _):
            globalConcurrentExecutor.enqueue(job)
        case .closure(let work):
            Task.detached { work() }
        case .cancel, .stop:
            break
        }
    }
}

enum CoreLifecycle: UInt8 {
    case starting, running, stopped
}

/// The pthread key behind ``Core/current``.
enum CurrentCoreKey {
    static let key: pthread_key_t = {
        var key = pthread_key_t()
        let result = pthread_key_create(&key, nil)
        precondition(result == 0, "pthread_key_create failed: \(result)")
        return key
    }()
}
