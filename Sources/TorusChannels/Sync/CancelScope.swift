import Glibc
import Synchronization

/// A region of a task whose waits stop early: at a deadline (``withDeadline(_:isolation:_:)``,
/// ``withTimeout(_:isolation:_:)``) or when a ``CancellationToken`` is cancelled
/// (``CancellationToken/run(isolation:_:)``), without cancelling the task itself.
///
/// Every wait Torus makes looks the scope up when it starts:
/// - a ring operation under a deadline is submitted with an `IORING_OP_LINK_TIMEOUT` for the time
///   left, so the kernel cancels it at the deadline with no timer or task of ours; under a token
///   it registers a hook that cancels it in the kernel when the token fires;
/// - channel, synchronization and `select` waits register a hook that takes the waiter back, as
///   a task cancellation would. For a deadline, the first such hook arms one ring timer for the
///   whole scope, which runs the hooks when it fires.
///
/// A scope is found through a task-local, so it covers the calling task and the child tasks it
/// creates (task groups, `async let`), not tasks spawned from inside it (``spawn(on:_:)`` clears
/// it: a connection handler spawned by a loop under a deadline does not inherit the deadline).
@usableFromInline package final class CancelScope: Sendable {
    @usableFromInline @TaskLocal package static var current: CancelScope?

    /// Scopes alive in the process. While none is, a wait skips the task-local lookup: the
    /// price of scopes for code that does not use them is one relaxed atomic load.
    @usableFromInline package static let active = Atomic<Int>(0)

    /// This scope's own deadline, if it has one.
    package let deadline: ContinuousClock.Instant?
    /// The earliest deadline of this scope and every scope around it: the one that applies.
    package let effectiveDeadline: ContinuousClock.Instant?
    /// Whether something other than the clock can end this scope or one around it (a token):
    /// ring operations then register a hook, since a linked timeout cannot express it.
    package let firesExternally: Bool
    private let parent: CancelScope?
    /// Set once the scope has fired (its timer, its token, or an enclosing scope).
    private let fired = Atomic<Bool>(false)

    private struct State {
        var hooks: [UInt64: @Sendable () -> Void] = [:]
        var nextToken: UInt64 = 0
        var timerRequested = false
        var timer: (host: any RuntimeThreadTimers, id: UInt64)?
        /// The timer's stand-in off a core: a sleeping task, cancelled when the scope ends.
        var timerTask: Task<Void, Never>?
        /// This scope's hook in its parent (so that a parent's token reaches the waits in here).
        var parentHook: UInt64?
    }

    private let state = Lock(State())
    /// Set when the body has returned. A plain `Task` created in the body copies the task-local
    /// and may outlive the scope: for it the scope no longer limits anything (as if it had been
    /// spawned), rather than refusing every wait or making a select spin. Set before `end()`
    /// takes the lock, so a `register` or timer start under the lock either sees it or comes
    /// before `end()` clears what it added.
    private let ended = Atomic<Bool>(false)

    package init(deadline: ContinuousClock.Instant?, external: Bool, parent: CancelScope?) {
        self.deadline = deadline
        self.parent = parent
        switch (deadline, parent?.effectiveDeadline) {
        case (let own?, let inherited?): effectiveDeadline = min(own, inherited)
        case (let own, let inherited): effectiveDeadline = own ?? inherited
        }
        firesExternally = external || parent?.firesExternally == true
    }

    /// Enters the scope: counted as active, and linked to an enclosing scope that can be fired
    /// from outside (a token), so that firing it fires this one too.
    package func begin() {
        CancelScope.active.wrappingAdd(1, ordering: .relaxed)
        if let parent, parent.firesExternally {
            if let token = parent.register({ [self] in fire() }, armsTimer: false) {
                state.withLock { $0.parentHook = token }
            } else {
                fire()
            }
        }
    }

    /// Leaves the scope: no hook is taken any more, the timer is cancelled, the parent link
    /// dropped.
    package func end() {
        ended.store(true, ordering: .releasing)
        let (timer, timerTask, parentHook) = state.withLock { state in
            state.hooks.removeAll()
            defer {
                state.timer = nil
                state.timerTask = nil
            }
            return (state.timer, state.timerTask, state.parentHook)
        }
        if let timer { timer.host.cancelTimer(timer.id) }
        timerTask?.cancel()
        if let parent, let parentHook { parent.unregister(parentHook) }
        CancelScope.active.wrappingSubtract(1, ordering: .relaxed)
    }

    /// The scope of the calling task, if any (one atomic load when no scope exists anywhere).
    @inlinable package static var ofCurrentTask: CancelScope? {
        active.load(ordering: .relaxed) == 0 ? nil : current
    }

    /// Whether the scope has ended its waits: fired, or past the deadline that applies.
    @usableFromInline package var isExpired: Bool {
        if ended.load(ordering: .acquiring) { return false }
        if fired.load(ordering: .acquiring) { return true }
        if let effectiveDeadline, ContinuousClock.now >= effectiveDeadline { return true }
        return false
    }

    /// The time left before the deadline that applies (zero once passed), or nil without one.
    package var remaining: Duration? {
        guard let effectiveDeadline, !ended.load(ordering: .acquiring) else { return nil }
        let left = ContinuousClock.now.duration(to: effectiveDeadline)
        return left < .zero ? .zero : left
    }

    /// Registers `hook` to run once when the scope fires. Returns a token for
    /// ``unregister(_:)``, or nil if it has already fired (the caller stops waiting). After the
    /// scope ended the hook is not kept (nothing will fire it) and the token is a dummy.
    /// - Parameter armsTimer: whether a deadline scope should arm its timer for this hook (on
    ///   the caller's core, so it must be called from a task).
    @usableFromInline package func register(_ hook: @escaping @Sendable () -> Void, armsTimer: Bool = true) -> UInt64? {
        if isExpired { return nil }
        let (token, armTimer) = state.withLock { state -> (UInt64?, Bool) in
            guard !ended.load(ordering: .acquiring) else { return (CancelScope.endedToken, false) }
            state.nextToken &+= 1
            state.hooks[state.nextToken] = hook
            let arm = armsTimer && effectiveDeadline != nil && !state.timerRequested
            if arm { state.timerRequested = true }
            return (state.nextToken, arm)
        }
        // A fire between the check above and the insert would have missed this hook.
        if token != nil && token != CancelScope.endedToken && fired.load(ordering: .acquiring) {
            fire()
        }
        // The timer is armed outside the lock: arming may reap completions, whose handlers may
        // take this lock.
        if armTimer { startTimer() }
        return token
    }

    /// What ``register(_:armsTimer:)`` returns after the scope ended (real tokens start at 1).
    package static let endedToken: UInt64 = 0

    /// Takes a hook back (the wait ended by itself). Harmless after the scope fired.
    @usableFromInline package func unregister(_ token: UInt64) {
        state.withLock { _ = $0.hooks.removeValue(forKey: token) }
    }

    /// Marks the scope fired and runs every registered hook (outside the lock). Idempotent for
    /// the hooks: each runs at most once.
    package func fire() {
        fired.store(true, ordering: .releasing)
        let hooks = state.withLock { state -> [@Sendable () -> Void] in
            defer { state.hooks.removeAll() }
            return Array(state.hooks.values)
        }
        for hook in hooks { hook() }
    }

    private func startTimer() {
        guard let remaining else { return }
        guard let host = RuntimeThread.timers else {
            // Off a core (a plain Swift task): a sleeping task stands in for the ring timer; it
            // is cancelled when the scope ends, so it does not hold the scope until the deadline.
            let task = Task { [self] in
                guard (try? await Task.sleep(for: remaining)) != nil else { return }
                fire()
            }
            let cancelNow = state.withLock { state -> Bool in
                if ended.load(ordering: .acquiring) { return true }
                state.timerTask = task
                return false
            }
            if cancelNow { task.cancel() }
            return
        }
        let id = host.armTimer(after: remaining) { [self] fired in
            if fired { fire() }
        }
        let cancelNow = state.withLock { state -> Bool in
            if ended.load(ordering: .acquiring) { return true }
            state.timer = (host, id)
            return false
        }
        if cancelNow { host.cancelTimer(id) }
    }

    /// Runs `body` with this scope as the current one.
    package func run<T>(isolation: isolated (any Actor)? = #isolation, _ body: () async throws -> T) async throws -> T {
        begin()
        defer { end() }
        return try await CancelScope.$current.withValue(self) { try await body() }
    }
}

/// Whether a wait of the calling task should stop: the task is cancelled, or its
/// ``CancelScope`` has fired or passed its deadline.
@inlinable package var isWaitCancelled: Bool {
    if Task.isCancelled { return true }
    guard let scope = CancelScope.ofCurrentTask else { return false }
    return scope.isExpired
}

/// Throws `CancellationError` if ``isWaitCancelled``.
@inlinable package func checkWaitCancellation() throws(CancellationError) {
    if isWaitCancelled { throw CancellationError() }
}

/// Whether `error` is how a wait reports that it was cancelled.
package func isCancellation(_ error: any Error) -> Bool {
    if error is CancellationError { return true }
    if let error = error as? any CancellationReporting, error.reportsCancellation { return true }
    if let error = error as? BroadcastError, error == .cancelled { return true }
    return false
}

/// An error type of a module above this one that can say "the wait was cancelled" in its own
/// words (Torus's `IOError` with `ECANCELED`, the kernel's answer to a cancelled ring operation).
package protocol CancellationReporting: Error {
    /// Whether this error reports a cancellation rather than a failure.
    var reportsCancellation: Bool { get }
}
