/// Runs two operations concurrently on the caller's core and returns both results.
/// If one throws, the other is cancelled and the error is rethrown.
///
/// Cancel safety: cancelling the calling task cancels both operations (child tasks of the call),
/// and `join` returns only when both have ended; each operation's own notes apply to what it had
/// done.
@inlinable public func join<A: Sendable, B: Sendable>(
    _ a: @escaping @Sendable () async throws -> A,
    _ b: @escaping @Sendable () async throws -> B
) async throws -> (A, B) {
    async let first = a()
    async let second = b()
    return try await (first, second)
}

/// Runs three operations concurrently on the caller's core and returns all results.
///
/// Cancel safety: as ``join(_:_:)``: the three operations are cancelled with the calling task, and
/// the call returns when all have ended.
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
