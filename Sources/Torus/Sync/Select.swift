/// Which branch of ``select(_:)`` finished first, and its value.
public struct SelectOutcome<Value: Sendable>: Sendable {
    /// The position of the winning branch in the argument list.
    public var index: Int
    public var value: Value

    @inlinable init(index: Int, value: Value) {
        self.index = index
        self.value = value
    }
}

/// Runs the branches concurrently on the caller's core, returns the first to finish, cancels the
/// others and waits for them to unwind (their ring operations are cancelled in the kernel).
///
/// ```swift
/// let outcome = try await select(
///     { Event.message(await inbox.receive()) },
///     { try await sleep(for: .seconds(1)); return Event.tick }
/// )
/// ```
///
/// Cancel safety: Torus's channel receives consume nothing when cancelled before a value was
/// handed over. A losing branch that completes anyway in the instant before its cancellation
/// lands has its result discarded; branches whose results must never be dropped should not race.
/// - Throws: what the winning branch threw.
@inlinable public func select<Value: Sendable>(
    _ branches: (@Sendable () async throws -> Value)...
) async throws -> SelectOutcome<Value> {
    precondition(!branches.isEmpty, "select needs at least one branch")
    return try await withThrowingTaskGroup(of: SelectOutcome<Value>.self) { group in
        for (index, branch) in branches.enumerated() {
            group.addTask { SelectOutcome(index: index, value: try await branch()) }
        }
        defer { group.cancelAll() }
        return try await group.next()!
    }
}

/// Runs two operations concurrently on the caller's core and returns both results.
/// If one throws, the other is cancelled and the error is rethrown.
@inlinable public func join<A: Sendable, B: Sendable>(
    _ a: @escaping @Sendable () async throws -> A,
    _ b: @escaping @Sendable () async throws -> B
) async throws -> (A, B) {
    async let first = a()
    async let second = b()
    return try await (first, second)
}

/// Runs three operations concurrently on the caller's core and returns all results.
@inlinable public func join<A: Sendable, B: Sendable, C: Sendable>(
    _ a: @escaping @Sendable () async throws -> A,
    _ b: @escaping @Sendable () async throws -> B,
    _ c: @escaping @Sendable () async throws -> C
) async throws -> (A, B, C) {
    async let first = a()
    async let second = b()
    async let third = c()
    return try await (first, second, third)
}
