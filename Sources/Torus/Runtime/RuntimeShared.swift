import Glibc
import Logging
import Synchronization
import TorusChannels

/// State shared by a runtime's cores and handles.
final class RuntimeShared: @unchecked Sendable {
    // @unchecked: `cores` is written once, before any core thread or handle can read it;
    // everything else is an atomic or lock-protected.
    private(set) var cores: [Core] = []
    let phase = Atomic<UInt8>(RuntimePhase.running.rawValue)
    /// Tasks spawned and not yet finished (counted from spawn, before they first run).
    let liveTasks = Atomic<Int>(0)
    /// Broadcast when the last task ends during shutdown, so `waitForTasks` need not poll. The
    /// value counts the broadcasts; it is not `()` because a zero-sized stored property of a
    /// generic class sits at offset 0, on the object's header, and ThreadSanitizer then reports
    /// every access to it as a race with the unlocked header read each generic method makes
    /// (see `ConditionLock.init`).
    let tasksDrained = ConditionLock(0)
    /// Run once when the last task ends during shutdown: the async shutdown's wake-ups
    /// (`TaskDrainWait.swift`). A pthread-backed `Lock`, which ThreadSanitizer sees.
    let drainedCallbacks = Lock<[@Sendable () -> Void]>([])
    let nextSpreadCore = Atomic<Int>(0)
    let blockingPool: BlockingPool
    /// Provided receive buffers per core: the first group's count, each buffer's size, the
    /// most a core may grow to, whether receives may fill several in one completion.
    let receiveBuffers: (count: Int, size: Int, limit: Int, bundles: Bool)
    /// ``RuntimeConfiguration/logger``, for what the cores report.
    let logger: Logger

    init(blockingPool: BlockingPool, receiveBuffers: (count: Int, size: Int, limit: Int, bundles: Bool), logger: Logger) {
        self.blockingPool = blockingPool
        self.receiveBuffers = receiveBuffers
        self.logger = logger
    }

    func install(cores: [Core]) {
        precondition(self.cores.isEmpty)
        self.cores = cores
    }

    var isAcceptingWork: Bool { phase.load(ordering: .acquiring) == RuntimePhase.running.rawValue }

    func core(for placement: Placement) -> Core {
        switch placement {
        case .current:
            if let current = Core.current, current.shared === self { return current }
            return core(for: .spread)
        case .core(let index):
            precondition(cores.indices.contains(index), "no core \(index): the runtime has \(cores.count) cores")
            return cores[index]
        case .spread:
            let next = nextSpreadCore.wrappingAdd(1, ordering: .relaxed).oldValue
            return cores[(next & Int.max) % cores.count]
        }
    }

    /// Spawns a tracked task with `core` as its executor preference.
    func spawn<T: Sendable>(on core: Core, _ body: sending @escaping () async throws -> T) -> JoinHandle<T> {
        guard isAcceptingWork else {
            return JoinHandle(Task(executorPreference: core) { throw RuntimeError.shuttingDown })
        }
        liveTasks.wrappingAdd(1, ordering: .relaxed)
        // A spawned task outlives the scope it was spawned in: it does not inherit a cancel
        // scope (Swift copies task-locals into unstructured tasks). Decided here, before the
        // task exists, so that the common case's task body stays as small as it was (the check
        // inside the body cost 5% of a spawn + await).
        if CancelScope.ofCurrentTask != nil {
            return spawnTracked(on: core) { try await CancelScope.$current.withValue(nil) { try await body() } }
        }
        return spawnTracked(on: core, body)
    }

    private func spawnTracked<T: Sendable>(on core: Core, _ body: sending @escaping () async throws -> T) -> JoinHandle<T> {
        let task = Task(executorPreference: core) { [self] in
            let slot = register(on: core)
            defer { finish(on: core, slot: slot) }
            return try await body()
        }
        return JoinHandle(task)
    }

    /// Records the running task in its core's slab (no lock: we are on that core). A task that
    /// first runs after shutdown began cancelling cancels itself.
    private func register(on core: Core) -> Int? {
        guard core.isCurrent else { return nil }
        return withUnsafeCurrentTask { task -> Int? in
            guard let task else { return nil }
            if phase.load(ordering: .acquiring) >= RuntimePhase.cancelling.rawValue { task.cancel() }
            return core.tasks.insert(task)
        }
    }

    private func finish(on core: Core, slot: Int?) {
        if let slot, core.isCurrent { core.tasks.remove(slot) }
        // Sequentially consistent, pairing with the shutdown's phase store and count load: one
        // of the two sides sees the other, so the last task cannot miss a waiting shutdown.
        let left = liveTasks.wrappingSubtract(1, ordering: .sequentiallyConsistent).newValue
        if left == 0 && phase.load(ordering: .sequentiallyConsistent) != RuntimePhase.running.rawValue {
            tasksDrained.withLockBroadcasting { $0 &+= 1 }
            runDrainedCallbacks()
        }
    }

    /// Cancels every task spawned on the runtime: each core cancels its own.
    func cancelAllTasks() {
        phase.store(RuntimePhase.cancelling.rawValue, ordering: .sequentiallyConsistent)
        for core in cores { core.execute { core.tasks.cancelAll() } }
    }

    /// Waits (shutdown only: the phase is no longer `running`) until no spawned task is left or
    /// the deadline passes; returns how many are left. The last task to end broadcasts under
    /// the lock after its decrement, so the check-then-wait here cannot miss it.
    func waitForTasks(deadlineNanoseconds deadline: UInt64) -> Int {
        _ = tasksDrained.wait(deadlineNanoseconds: deadline) { _ in liveTasks.load(ordering: .sequentiallyConsistent) == 0 ? true : nil }
        return liveTasks.load(ordering: .acquiring)
    }
}

enum RuntimePhase: UInt8 {
    case running, draining, cancelling, stopped
}

/// Where a spawned task runs.
public enum Placement: Sendable, Hashable {
    /// On the caller's core (on a runtime thread), else spread.
    case current
    /// On the core with this index in ``Runtime/cores``.
    case core(Int)
    /// Round-robin over all cores.
    case spread
}
