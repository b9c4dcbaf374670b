import TorusChannels

/// A Sendable reference to a running ``Runtime``: hold it on any thread to spawn onto the
/// runtime or to block on work there (the seed's "spawning from sync code").
public struct RuntimeHandle: Sendable {
    let shared: RuntimeShared

    /// The handle of the runtime whose core is running the caller, if any.
    public static var current: RuntimeHandle? {
        Core.current.map { RuntimeHandle(shared: $0.shared) }
    }

    /// The runtime's cores.
    public var cores: [Core] { shared.cores }

    /// Spawns `body` as a task on the runtime and returns a handle to await or cancel it.
    ///
    /// - Parameters:
    ///   - body: the task's work.
    ///   - placement: which core runs it; the task stays on that core across every
    ///     await (its task-group children and `async let`s too).
    @discardableResult
    public func spawn<T: Sendable>(
        on placement: Placement = .spread,
        _ body: sending @escaping () async throws -> T
    ) -> JoinHandle<T> {
        shared.spawn(on: shared.core(for: placement), body)
    }

    /// Runs `body` on the runtime and blocks the calling thread until it finishes.
    ///
    /// For plain threads only: on a core thread it would block the core it waits for.
    public func block<T: Sendable>(
        placement: Placement = .core(0),
        on body: sending @escaping () async throws -> T
    ) throws -> T {
        precondition(Core.current == nil, "block(on:) called on a Torus core thread would deadlock; await the work instead")
        let outcome = ConditionLock<Result<T, any Error>?>(nil)
        let core = shared.core(for: placement)
        if !shared.isAcceptingWork { throw RuntimeError.shuttingDown }
        _ = shared.spawn(on: core) {
            let result: Result<T, any Error>
            do { result = .success(try await body()) } catch { result = .failure(error) }
            outcome.withLockBroadcasting { $0 = result }
        }
        return try outcome.wait { $0 }!.get()
    }

    /// Whether the runtime still accepts new tasks.
    public var isRunning: Bool { shared.isAcceptingWork }
}

/// Spawns `body` as a task on the current runtime (by default on the caller's core).
///
/// Must be called from a task running on a Torus core; from other threads use a
/// ``RuntimeHandle``. Calling it elsewhere is a programming error and stops the program with
/// a message saying so (like tokio's "must be called from the context of a runtime").
@discardableResult
public func spawn<T: Sendable>(
    on placement: Placement = .current,
    _ body: sending @escaping () async throws -> T
) -> JoinHandle<T> {
    guard let core = Core.current else {
        preconditionFailure("spawn(on:_:) must be called on a Torus core; use RuntimeHandle.spawn from other threads")
    }
    return core.shared.spawn(on: core.shared.core(for: placement), body)
}

/// Runs blocking `work` on the runtime's bounded blocking pool and awaits its result without
/// blocking the core.
///
/// Cancel safety: the work is not interrupted: a thread cannot be stopped halfway through a
/// blocking call. Once submitted it runs to completion on the pool, and its result (or error)
/// is returned even to a task that was cancelled meanwhile, so nothing it produced is lost; a
/// ``withTimeout(_:isolation:_:)`` deadline does not apply either. A task already cancelled
/// still submits the work: check `Task.isCancelled` first, or inside `work`, if it should not
/// start.
///
/// - Throws: what `work` throws, or ``RuntimeError/shuttingDown`` if the pool is closed.
///   Outside a Torus runtime it throws ``RuntimeError/notOnRuntimeThread(operation:)``.
public func spawnBlocking<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
    guard let core = Core.current else { throw RuntimeError.notOnRuntimeThread(operation: "spawnBlocking") }
    let pool = core.shared.blockingPool
    return try await withUnsafeThrowingContinuation { (continuation: UnsafeContinuation<T, any Error>) in
        let accepted = pool.submit {
            continuation.resume(with: Result { try work() })
        }
        if !accepted { continuation.resume(throwing: RuntimeError.shuttingDown) }
    }
}
