/// A handle to a task spawned on a Torus runtime: await its value or cancel it.
///
/// Dropping the handle detaches the task (it keeps running), as in tokio. Cancelling is
/// cooperative, as everywhere in Swift; Torus ring operations the task is waiting on are
/// cancelled in the kernel at once.
///
/// A spawned task is unstructured: cancelling the task that awaits ``value`` does not cancel
/// the spawned one (as with `Task`). For work that should end with its parent, use a task group
/// child placed on a core, `group.addTask(executorPreference: core) { ... }`, or
/// ``Core/run(_:)``.
public struct JoinHandle<Success: Sendable>: Sendable {
    let task: Task<Success, any Error>

    init(_ task: Task<Success, any Error>) { self.task = task }

    /// The task's result. Throws what the task threw (`CancellationError` if it was cancelled
    /// and honoured it, ``RuntimeError/shuttingDown`` if it was spawned during shutdown).
    ///
    /// Cancel safety: awaiting is not interrupted by the awaiting task's cancellation or by a
    /// ``withTimeout(_:isolation:_:)`` deadline: it waits for the task to finish, and the result
    /// is never lost. ``cancel()`` the handle to make the task finish sooner.
    public var value: Success {
        get async throws { try await task.value }
    }

    /// The task's result as a `Result`.
    ///
    /// Cancel safety: as ``value``: the awaiting task's cancellation does not interrupt the wait,
    /// and the result is never lost.
    public var result: Result<Success, any Error> {
        get async { await task.result }
    }

    /// Requests cancellation of the task.
    public func cancel() { task.cancel() }

    /// Whether cancellation was requested.
    public var isCancelled: Bool { task.isCancelled }
}
