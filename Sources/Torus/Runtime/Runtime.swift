import Logging
import Synchronization
import TorusChannels
import TorusRing

/// A Torus runtime: one core per CPU, each a pinned thread that owns one io_uring ring.
///
/// Start it from synchronous code, run an async entry point on it and get the value back:
///
/// ```swift
/// let answer = try Runtime.run {
///     let handle = spawn { try await compute() }
///     return try await handle.value
/// }
/// ```
///
/// or keep it around, spawn work onto it from any thread with a ``RuntimeHandle``, and stop it
/// with ``shutdown(gracePeriod:cancellationWait:)-5ncpi``: from a plain thread it blocks, from async
/// code `await runtime.shutdown()` suspends instead.
public final class Runtime: Sendable {
    let shared: RuntimeShared
    private let threads: [OSThread]
    /// Who performs the one shutdown: the first call, sync or async; later calls wait for it.
    private let shutdownState = Mutex<ShutdownState>(.running)
    private let watchdog: StallWatchdog?
    private let logger: Logger

    /// The CPUs this process may run on (its affinity mask), ascending: what
    /// ``RuntimeConfiguration/Cores/automatic`` starts one core for each of.
    ///
    /// Read once, from the process's main thread's set, whichever thread asks: on a core the
    /// calling thread is pinned to one CPU, so asking the kernel there would answer with that
    /// CPU alone (``ThreadAffinity/allowedCPUs`` is that per-thread answer), and threads created
    /// by a pinned thread inherit its pin. Sizing a pool from a core with the per-thread answer
    /// once made torus-cp copy with one thread instead of two.
    public static var allowedCPUs: [Int] { processAllowedCPUs }

    /// The runtime's cores, in index order.
    public var cores: [Core] { shared.cores }

    /// A Sendable handle for spawning onto this runtime from any thread.
    public var handle: RuntimeHandle { RuntimeHandle(shared: shared) }

    /// Starts the cores and waits until every ring is up.
    ///
    /// - Throws: ``RuntimeError``; in particular ``RuntimeError/ringSetup(core:_:)`` with a
    ///   ``RingSetupError`` that says why io_uring is unusable here (memlock limit,
    ///   `kernel.io_uring_disabled`, a seccomp profile, an old kernel) and what to do.
    public init(_ configuration: RuntimeConfiguration = RuntimeConfiguration()) throws(RuntimeError) {
        FaultInjection.environmentRules
        // Reading `allowedCPUs` here, before any core is pinned, fixes the process's set.
        let assignment = try configuration.cpuAssignment(allowed: Runtime.allowedCPUs)
        let shared = RuntimeShared(
            blockingPool: BlockingPool(
                maxThreads: configuration.maxBlockingThreads, keepAlive: configuration.blockingThreadKeepAlive),
            receiveBuffers: (
                configuration.receiveBufferCount, configuration.receiveBufferSize, configuration.effectiveReceiveBufferLimit,
                configuration.receiveBundles
            ),
            logger: configuration.logger)
        let cores = assignment.enumerated().map {
            Core(index: $0.offset, cpu: $0.element, shared: shared, busyPoll: configuration.busyPoll)
        }
        shared.install(cores: cores)

        // Each ring is created on its own thread (SINGLE_ISSUER requires it); the threads report
        // success or the setup error here before anyone can use the runtime.
        let started = ConditionLock([Int: Result<Void, RuntimeError>]())
        var threads: [OSThread] = []
        var startError: RuntimeError?
        for core in cores {
            // Below this a ring cannot hold one operation, its linked timeout and the entries
            // kept for cancels: every submission would wait for room forever.
            let entries = max(configuration.ringEntries, Core.minimumRingEntries)
            let thread = OSThread.start(name: "torus-core-\(core.index)") {
                do throws(RuntimeError) {
                    try core.startOnCurrentThread(entries: entries)
                } catch {
                    started.withLockBroadcasting { $0[core.index] = .failure(error) }
                    return
                }
                started.withLockBroadcasting { $0[core.index] = .success(()) }
                core.runLoop()
            }
            guard let thread else {
                startError = .threadStartFailed(name: "torus-core-\(core.index)")
                break
            }
            threads.append(thread)
        }
        let results = started.wait { $0.count == threads.count ? $0 : nil }!
        for core in cores where results[core.index].map({ (try? $0.get()) != nil }) == true {
            configuration.logger.debug("core \(core.index) started: \(core.capability)", metadata: ["core": "\(core.index)"])
        }
        if startError == nil {
            for index in results.keys.sorted() {
                if case .failure(let error) = results[index]! {
                    startError = error
                    break
                }
            }
        }
        self.shared = shared
        self.threads = threads
        logger = configuration.logger
        watchdog =
            startError != nil
            ? nil
            : StallWatchdog(
                cores: cores, threshold: configuration.stallThreshold, logger: configuration.logger, onStall: configuration.onStall)
        if let startError {
            for index in results.keys where (try? results[index]!.get()) != nil {
                cores[index].send(.stop)
            }
            for thread in threads { thread.join() }
            for core in cores { core.close() }
            shared.blockingPool.shutdown()
            shutdownState.withLock { $0 = .stopped(ShutdownReport(finishedTasks: 0, cancelledTasks: 0, abandonedTasks: 0)) }
            throw startError
        }
    }

    deinit {
        shutdown(gracePeriod: .zero)
    }

    /// Runs `body` on core 0 and blocks the calling thread until it returns: the `block_on` of
    /// this runtime. Call it from a plain thread (a synchronous `main`), never from a core.
    public func block<T: Sendable>(on body: sending @escaping () async throws -> T) throws -> T {
        try handle.block(on: body)
    }

    /// Starts a runtime, runs `body` on it, then shuts it down (cancelling tasks still running,
    /// as tokio does when `main` returns) and returns `body`'s value. The `#[tokio::main]` of Torus.
    public static func run<T: Sendable>(
        _ configuration: RuntimeConfiguration = RuntimeConfiguration(),
        _ body: sending @escaping () async throws -> T
    ) throws -> T {
        let runtime = try Runtime(configuration)
        defer { runtime.shutdown(gracePeriod: .zero) }
        return try runtime.block(on: body)
    }

    /// What each core's ring can do: setup flags in force, supported operations, kernel.
    public var capabilities: RuntimeCapabilities {
        RuntimeCapabilities(kernel: KernelInfo.release, cores: cores.map(\.capability))
    }

    /// Stops the runtime gracefully and waits for it, blocking the calling thread.
    ///
    /// 1. New spawns fail with ``RuntimeError/shuttingDown``.
    /// 2. Running tasks get `gracePeriod` to finish.
    /// 3. The rest are cancelled (their ring operations are cancelled in the kernel) and get
    ///    up to `cancellationWait` to unwind.
    /// 4. Each core cancels whatever is still in flight, waits for the final completions, and
    ///    its thread exits; threads are joined, rings and eventfds closed, the blocking pool
    ///    drained and joined.
    ///
    /// Calling it again returns the first report. Must not be called from a core thread. From
    /// async code, await the async overload instead: this one holds its thread for up to
    /// `gracePeriod + cancellationWait`.
    @discardableResult
    public func shutdown(gracePeriod: Duration = .seconds(5), cancellationWait: Duration = .seconds(2)) -> ShutdownReport {
        precondition(Core.current?.shared !== shared, "Runtime.shutdown() would deadlock on one of its own cores")
        switch claimShutdown() {
        case .finished(let report):
            return report
        case .wait(let completion):
            return completion.wait()
        case .perform(let completion):
            let before = beginShutdown()
            let leftAfterGrace = shared.waitForTasks(deadlineNanoseconds: monotonicNanoseconds() + gracePeriod.clampedNanoseconds)
            var abandoned = 0
            if leftAfterGrace > 0 {
                shared.cancelAllTasks()
                abandoned = shared.waitForTasks(deadlineNanoseconds: monotonicNanoseconds() + cancellationWait.clampedNanoseconds)
            }
            tearDown(abandoned: abandoned)
            return finishShutdown(completion, before: before, leftAfterGrace: leftAfterGrace, abandoned: abandoned)
        }
    }

    /// Stops the runtime gracefully and suspends until it has stopped, without blocking a
    /// thread while its tasks finish: the steps of the blocking
    /// ``shutdown(gracePeriod:cancellationWait:)-5ncpi``, with the grace period and the cancellation
    /// wait awaited (woken by the last task's end, or by a timer on Swift's global executor).
    /// Only the last step, joining the core threads once they leave their loops and draining
    /// the blocking pool, runs on a thread of its own, which the caller awaits.
    ///
    /// For a runtime stopped from async code: a `ServiceGroup`'s service, a test, another
    /// runtime's task. Calling it again (or the blocking overload) returns the first report.
    /// Must not be called from one of this runtime's own cores, which it stops.
    ///
    /// Cancel safety: not cancellable; a shutdown, once begun, runs to its end, in at most
    /// about `gracePeriod + cancellationWait`.
    @discardableResult
    public func shutdown(gracePeriod: Duration = .seconds(5), cancellationWait: Duration = .seconds(2)) async -> ShutdownReport {
        precondition(Core.current?.shared !== shared, "Runtime.shutdown() would deadlock on one of its own cores")
        switch claimShutdown() {
        case .finished(let report):
            return report
        case .wait(let completion):
            return await completion.value()
        case .perform(let completion):
            let before = beginShutdown()
            let leftAfterGrace = await shared.waitForTasks(timeout: gracePeriod)
            var abandoned = 0
            if leftAfterGrace > 0 {
                shared.cancelAllTasks()
                abandoned = await shared.waitForTasks(timeout: cancellationWait)
            }
            await onOwnThread { [abandoned] in self.tearDown(abandoned: abandoned) }
            return finishShutdown(completion, before: before, leftAfterGrace: leftAfterGrace, abandoned: abandoned)
        }
    }

    /// Decides, under the lock, whether this call performs the shutdown or waits for another's.
    private func claimShutdown() -> ShutdownRole {
        shutdownState.withLock { state in
            switch state {
            case .running:
                let completion = ShutdownCompletion()
                state = .stopping(completion)
                return .perform(completion)
            case .stopping(let completion):
                return .wait(completion)
            case .stopped(let report):
                return .finished(report)
            }
        }
    }

    /// Step 1: new spawns fail from here on. Returns the tasks alive at that moment.
    private func beginShutdown() -> Int {
        shared.phase.store(RuntimePhase.draining.rawValue, ordering: .sequentiallyConsistent)
        return shared.liveTasks.load(ordering: .acquiring)
    }

    /// Step 4: stops the cores and releases everything. Blocks until the core threads exit
    /// (each waits for its ring's final completions) and the blocking pool's work ends.
    private func tearDown(abandoned: Int) {
        if abandoned > 0 {
            logger.warning(
                "runtime shutdown: \(abandoned) task(s) still suspended after cancellation were abandoned", metadata: ["abandoned": "\(abandoned)"])
        }
        watchdog?.shutdown()
        for core in cores { core.send(.stop) }
        for thread in threads { thread.join() }
        for core in cores { core.close() }
        shared.blockingPool.shutdown()
        shared.phase.store(RuntimePhase.stopped.rawValue, ordering: .sequentiallyConsistent)
    }

    /// Records the report for later calls and wakes those already waiting.
    private func finishShutdown(_ completion: ShutdownCompletion, before: Int, leftAfterGrace: Int, abandoned: Int) -> ShutdownReport {
        let report = ShutdownReport(
            finishedTasks: before - leftAfterGrace,
            cancelledTasks: leftAfterGrace - abandoned,
            abandonedTasks: abandoned)
        shutdownState.withLock { $0 = .stopped(report) }
        completion.complete(report)
        return report
    }
}

/// Where a runtime's shutdown stands.
private enum ShutdownState {
    case running
    case stopping(ShutdownCompletion)
    case stopped(ShutdownReport)
}

/// What a call to `shutdown` does: perform it, wait for the call performing it, or return the
/// report of the one that did.
private enum ShutdownRole {
    case perform(ShutdownCompletion)
    case wait(ShutdownCompletion)
    case finished(ShutdownReport)
}

/// Runs blocking `work` on a new thread and suspends until it is done, so that no thread of
/// Swift's pools (or of another runtime) is held by it. Falls back to running it here if the
/// system refuses a thread.
private func onOwnThread(_ work: @escaping @Sendable () -> Void) async {
    await withUnsafeContinuation { (continuation: UnsafeContinuation<Void, Never>) in
        let thread = OSThread.start(name: "torus-shutdown") {
            work()
            continuation.resume()
        }
        if let thread {
            thread.detach()
        } else {
            work()
            continuation.resume()
        }
    }
}

/// What ``Runtime/shutdown(gracePeriod:cancellationWait:)-5ncpi`` did.
public struct ShutdownReport: Sendable, Equatable, CustomStringConvertible {
    /// Tasks that finished on their own within the grace period.
    public var finishedTasks: Int
    /// Tasks that were cancelled and then finished.
    public var cancelledTasks: Int
    /// Tasks still suspended after cancellation (waiting on something that never resumes);
    /// their jobs run on Swift's global executor if they ever wake.
    public var abandonedTasks: Int

    /// The three counts on one line.
    public var description: String {
        "finished \(finishedTasks), cancelled \(cancelledTasks), abandoned \(abandonedTasks)"
    }
}
