/// The error ``withTimeout(_:_:)`` throws when the deadline passes first.
public struct TimeoutError: Error, Sendable, CustomStringConvertible {
    /// The time limit that was exceeded.
    public var duration: Duration
    public var description: String { "operation timed out after \(duration)" }
}

/// Which side of ``withTimeout(_:_:)`` finished first.
private enum TimeoutRace<T: Sendable>: Sendable {
    case finished(T)
    case timedOut
}

/// Runs `operation` with a time limit. If the limit passes first, the operation is cancelled
/// (its ring operations are cancelled in the kernel), awaited, and ``TimeoutError`` is thrown.
///
/// Both the operation and its timer run on the caller's core.
public func withTimeout<T: Sendable>(
    _ duration: Duration,
    _ operation: @escaping @Sendable () async throws -> T
) async throws -> T {
    try await withThrowingTaskGroup(of: TimeoutRace<T>.self) { group in
        group.addTask { .finished(try await operation()) }
        group.addTask {
            try await sleep(for: duration)
            return .timedOut
        }
        defer { group.cancelAll() }
        guard let first = try await group.next() else {
            preconditionFailure("a task group with two children returned none")
        }
        switch first {
        case .finished(let value): return value
        case .timedOut: throw TimeoutError(duration: duration)
        }
    }
}
