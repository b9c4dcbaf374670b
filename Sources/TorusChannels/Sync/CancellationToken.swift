import Synchronization

/// Cancels many pieces of work from one place (tokio-util's `CancellationToken`): give the same
/// token to every task that should stop together, then ``cancel()`` once.
///
/// ```swift
/// let shutdown = CancellationToken()
/// for connection in connections {
///     spawn {
///         // Every Torus wait in the body stops when the token is cancelled: reads, writes,
///         // sleeps, channel receives, selects.
///         if await (try? shutdown.run { try await serve(connection) }) == nil {
///             try? await connection.writeAll("server shutting down\n")
///         }
///     }
/// }
/// ...
/// shutdown.cancel()
/// ```
///
/// A token is a reference: share it (it is `Sendable`) wherever it is needed; ``child()`` makes a
/// token that is cancelled with its parent but can also be cancelled alone.
///
/// Unlike task cancellation, a token does not mark the task cancelled: after
/// ``run(isolation:_:)`` returns, the task goes on normally (to say goodbye to a client, say).
public final class CancellationToken: Sendable {
    private struct State {
        var cancelled = false
        var hooks: [UInt64: @Sendable () -> Void] = [:]
        var nextHook: UInt64 = 0
    }

    private let state = Lock(State())
    /// This token's hook in its parent, for a child token.
    private let parentLink = Lock<(parent: CancellationToken, hook: UInt64)?>(nil)

    /// A token that is not cancelled.
    public init() {}

    private init(parent: CancellationToken) {
        // The parent holds the child weakly: a child dropped before its parent is cancelled
        // (one per connection, say) must not live as long as the parent.
        let child = WeakToken(self)
        if let hook = parent.addHook({ child.token?.cancel() }) {
            parentLink.withLock { $0 = (parent, hook) }
        } else {
            cancel()
        }
    }

    deinit {
        if let link = parentLink.withLock({ $0 }) { link.parent.removeHook(link.hook) }
    }

    /// A token cancelled when this one is (or on its own ``cancel()``, which leaves this one alone).
    public func child() -> CancellationToken { CancellationToken(parent: self) }

    /// Whether ``cancel()`` has been called (on this token or a parent).
    public var isCancelled: Bool { state.withLock { $0.cancelled } }

    /// Cancels the token: every ``run(isolation:_:)`` body using it has its waits stopped,
    /// every ``cancelled()`` returns, every child token is cancelled. Idempotent; callable from
    /// any thread.
    public func cancel() {
        let hooks = state.withLock { state -> [@Sendable () -> Void] in
            guard !state.cancelled else { return [] }
            state.cancelled = true
            defer { state.hooks.removeAll() }
            return Array(state.hooks.values)
        }
        for hook in hooks { hook() }
    }

    /// Waits until the token is cancelled.
    ///
    /// Cancel safety: nothing to lose; a cancelled wait can simply be repeated.
    /// - Throws: `CancellationError` if the waiting task is cancelled first (or the deadline of
    ///   its ``withDeadline(_:isolation:_:)`` scope passes).
    public func cancelled() async throws(CancellationError) {
        let signal = SelectSignal()
        guard let hook = addHook({ signal.fire() }) else { return }
        defer { removeHook(hook) }
        while !isCancelled {
            try checkWaitCancellation()
            await signal.wait()
        }
    }

    /// Runs `body` in the calling task until it finishes or the token is cancelled, whichever
    /// comes first (tokio's `run_until_cancelled`).
    ///
    /// Cancelling the token stops every Torus wait in the body as a task cancellation would
    /// (ring operations are cancelled in the kernel), so each API's cancel-safety note applies;
    /// the body sees `CancellationError` and `run` returns nil. The task itself is not cancelled.
    ///
    /// Cancel safety: the body runs in the calling task, so each API's own note applies to the
    /// waits the token (or the task's cancellation) stops inside it.
    ///
    /// - Returns: the body's value, or nil if the token was cancelled before (or while) it ran
    ///   and the body ended with a cancellation.
    /// - Throws: what the body threw for any other reason.
    public func run<T>(
        isolation: isolated (any Actor)? = #isolation,
        _ body: () async throws -> T
    ) async throws -> T? {
        if isCancelled { return nil }
        let scope = CancelScope(deadline: nil, external: true, parent: CancelScope.current)
        guard let hook = addHook({ scope.fire() }) else { return nil }
        defer { removeHook(hook) }
        do {
            return try await scope.run(body)
        } catch {
            if isCancelled, !Task.isCancelled, isCancellation(error) { return nil }
            throw error
        }
    }

    /// Adds a hook run once on cancellation; nil if the token is already cancelled.
    func addHook(_ hook: @escaping @Sendable () -> Void) -> UInt64? {
        state.withLock { state -> UInt64? in
            guard !state.cancelled else { return nil }
            state.nextHook &+= 1
            state.hooks[state.nextHook] = hook
            return state.nextHook
        }
    }

    /// Removes a hook; returns whether it was still there (not run).
    @discardableResult func removeHook(_ id: UInt64) -> Bool {
        state.withLock { $0.hooks.removeValue(forKey: id) != nil }
    }
}

extension SelectBranch {
    /// Fires once `token` is cancelled.
    public static func cancelled(_ token: CancellationToken, then handler: @escaping () async throws -> Output) -> SelectBranch {
        SelectBranch(
            attempt: { token.isCancelled ? handler : nil },
            watch: { signal in
                guard let id = token.addHook({ signal.fire() }) else {
                    signal.fire()
                    return SelectWatch(disarm: nil)
                }
                return SelectWatch(disarm: { token.removeHook(id) })
            })
    }
}

/// A weak reference to a child token, for its parent's hook.
private final class WeakToken: Sendable {
    // Swift's weak references are safe to read from any thread; this one is written once,
    // before the hook that reads it is published.
    nonisolated(unsafe) weak var token: CancellationToken?
    init(_ token: CancellationToken) { self.token = token }
}
