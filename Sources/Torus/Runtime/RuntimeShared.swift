import Synchronization

/// State shared by a runtime's cores and handles.
final class RuntimeShared: @unchecked Sendable {
    // @unchecked: `cores` is written once, before any core thread or handle can read it;
    // everything else is an atomic or lock-protected.
    private(set) var cores: [Core] = []
    let phase = Atomic<UInt8>(RuntimePhase.running.rawValue)
    let registry = ConditionLock(TaskRegistry())
    let nextSpreadCore = Atomic<Int>(0)
    let blockingPool: BlockingPool

    init(blockingPool: BlockingPool) {
        self.blockingPool = blockingPool
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
        let id = registry.withLock { $0.insert() }
        let task = Task(executorPreference: core) { [self] in
            defer { registry.withLockBroadcasting { $0.remove(id) } }
            return try await body()
        }
        registry.withLock { $0.attach(id, cancel: { task.cancel() }) }
        return JoinHandle(task)
    }
}

enum RuntimePhase: UInt8 {
    case running, draining, stopped
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
