import Glibc
import Synchronization

/// The error ``withTimeout(_:isolation:_:)`` and ``withDeadline(_:isolation:_:)`` throw when the
/// deadline passes before the body finishes.
public struct TimeoutError: Error, Sendable, CustomStringConvertible {
    /// The time limit that was exceeded (for a deadline, the time from entering the scope to it).
    public var duration: Duration
    /// A timeout after `duration`.
    public init(duration: Duration) { self.duration = duration }
    /// Says the duration, as `operation timed out after 1.0 seconds`.
    public var description: String { "operation timed out after \(duration)" }
}

/// Runs `body` in the calling task with a time limit on every wait inside it.
///
/// ```swift
/// let reader = BufferedReader(stream)          // not Sendable: fine, nothing leaves this task
/// while true {
///     do {
///         let line = try await withTimeout(.seconds(30)) { try await reader.readLine() }
///         ...
///     } catch is TimeoutError {
///         try await stream.writeAll("idle for 30 s, still there?\n")   // the partial line is kept
///     }
/// }
/// ```
///
/// No task and no task group are created: `body` may use the caller's non-`Sendable` state.
/// The deadline travels with each wait instead:
/// - every ring operation (socket and file I/O, ``sleep(for:)``) is submitted with an
///   `IORING_OP_LINK_TIMEOUT` for the time left, so the kernel cancels it at the deadline;
/// - channel, synchronization and ``select(biased:_:otherwise:isolation:)`` waits are woken by one
///   ring timer for the whole scope.
///
/// A wait stopped by the deadline throws `CancellationError` inside the body (as a cancelled
/// task's would; ``BroadcastError/cancelled`` for a broadcast receive), and the scope turns that
/// into ``TimeoutError`` when it ends. A blocked MPSC send throws its ``SendError`` with reason
/// `.cancelled`, which the scope passes through unchanged: it carries the value that was not
/// sent. A body that catches the error and returns normally returns its value.
///
/// **Cancel safety.** The deadline cancels waits the same way task cancellation does, so each
/// API's cancel-safety note applies: a channel receive stopped by the deadline takes nothing, a
/// blocked send hands its value back, ``BufferedReader`` keeps the bytes of a partial line, a
/// socket read the kernel completed just before the cancel returns its bytes.
///
/// **Not covered.** Waits that are not Torus's own (`Task.sleep`, awaiting another task's value,
/// other libraries' async code, ``spawnBlocking(_:)`` work) do not see the deadline, nor does a
/// ``File/splice(into:from:length:)`` waiting on a full pipe in an io_uring worker thread (the
/// linked timeout does not interrupt the worker; task cancellation does); race them with a
/// ``SelectBranch/sleep(for:then:)`` branch in ``select(biased:_:otherwise:isolation:)``, or
/// use a ``CancellationToken``. Tasks spawned inside the scope (``spawn(on:_:)``) do not inherit
/// it; child tasks of task groups and `async let` do.
///
/// Scopes nest: the earliest deadline applies, and the scope whose deadline passed reports it.
/// - Throws: ``TimeoutError`` when the deadline passed and the body threw because of it;
///   otherwise what the body threw.
public func withTimeout<T>(
    _ duration: Duration,
    isolation: isolated (any Actor)? = #isolation,
    _ body: () async throws -> T
) async throws -> T {
    try await runWithDeadline(ContinuousClock.now.advanced(by: duration), duration: duration, body)
}

/// Runs `body` in the calling task with every wait inside it limited to `deadline`; see
/// ``withTimeout(_:isolation:_:)``, which this is with an instant instead of a duration.
///
/// Cancel safety: as ``withTimeout(_:isolation:_:)``: the deadline stops the waits inside the body
/// as a cancellation would, so each API's own note applies, and the body's state stays in the
/// calling task.
///
/// - Throws: ``TimeoutError`` when the deadline passed and the body threw because of it;
///   otherwise what the body threw.
public func withDeadline<T>(
    _ deadline: ContinuousClock.Instant,
    isolation: isolated (any Actor)? = #isolation,
    _ body: () async throws -> T
) async throws -> T {
    try await runWithDeadline(deadline, duration: ContinuousClock.now.duration(to: deadline), body)
}

private func runWithDeadline<T>(
    _ deadline: ContinuousClock.Instant,
    duration: Duration,
    isolation: isolated (any Actor)? = #isolation,
    _ body: () async throws -> T
) async throws -> T {
    let scope = CancelScope(deadline: deadline, external: false, parent: CancelScope.current)
    do {
        return try await scope.run(body)
    } catch {
        // Only this scope's own deadline turns a cancellation into a timeout: an enclosing
        // scope whose earlier deadline passed reports its own, and a cancelled task stays a
        // cancellation.
        guard ContinuousClock.now >= deadline, !Task.isCancelled, isCancellation(error) else { throw error }
        throw TimeoutError(duration: duration)
    }
}
