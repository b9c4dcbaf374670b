/// A task group whose children run on chosen cores (tokio's `JoinSet` for a thread-per-core
/// runtime): ``withThrowingCoreTaskGroup(of:returning:isolation:body:)`` makes one.
///
/// A plain task group's children run on the parent's core; this one places each child with a
/// ``Placement``, so work fans out over the runtime:
///
/// ```swift
/// let sizes = try await withThrowingCoreTaskGroup(of: Int.self) { group in
///     for path in paths { group.spawn(on: .spread) { try await File.open(path).metadata().size } }
///     var total = 0
///     while let size = try await group.next() { total += size }
///     return total
/// }
/// ```
///
/// Structured as any task group: the group waits for every child before it returns, and
/// leaving it by an error cancels the children still running.
public struct CoreTaskGroup<ChildResult: Sendable> {
    var group: ThrowingTaskGroup<ChildResult, any Error>
    let runtime: RuntimeShared

    init(group: ThrowingTaskGroup<ChildResult, any Error>, runtime: RuntimeShared) {
        self.group = group
        self.runtime = runtime
    }

    /// Adds a child running `body` on the core `placement` picks (by default the next core in
    /// turn).
    public mutating func spawn(on placement: Placement = .spread, _ body: sending @escaping @isolated(any) () async throws -> ChildResult) {
        group.addTask(executorPreference: runtime.core(for: placement), operation: body)
    }

    /// The next child's result in completion order; nil once no child is left.
    ///
    /// Cancel safety: a cancelled wait takes no result; the children go on (cancel them with
    /// ``cancelAll()``) and their results can still be taken.
    /// - Throws: the error of a child that failed.
    public mutating func next() async throws -> ChildResult? { try await group.next() }

    /// Cancels every child still running.
    public func cancelAll() { group.cancelAll() }

    /// Whether no child is left to wait for.
    public var isEmpty: Bool { group.isEmpty }

    /// Waits for every child, throwing the first error.
    ///
    /// Cancel safety: a cancelled wait leaves the children running and their results unread.
    public mutating func waitForAll() async throws { try await group.waitForAll() }
}

/// Runs `body` with a ``CoreTaskGroup`` whose children run on chosen cores, and waits for every
/// child before returning. Must be called on a Torus core.
///
/// Cancel safety: cancelling the calling task cancels every child (structured concurrency);
/// the group still waits for them to finish before it returns.
public func withThrowingCoreTaskGroup<ChildResult: Sendable, GroupResult>(
    of childResultType: ChildResult.Type,
    returning returnType: GroupResult.Type = GroupResult.self,
    isolation: isolated (any Actor)? = #isolation,
    body: (inout CoreTaskGroup<ChildResult>) async throws -> GroupResult
) async throws -> GroupResult {
    guard let core = Core.current else { throw RuntimeError.notOnRuntimeThread(operation: "withThrowingCoreTaskGroup") }
    return try await withThrowingTaskGroup(of: ChildResult.self, returning: GroupResult.self) { group in
        var placed = CoreTaskGroup(group: group, runtime: core.shared)
        defer { group = placed.group }
        return try await body(&placed)
    }
}
