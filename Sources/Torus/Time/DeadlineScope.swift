import Glibc
import Synchronization
import TorusRing

/// The deadline of a ``withDeadline(_:_:)`` scope, as every wait inside the scope sees it.
///
/// Ring operations read it when they are submitted and carry it to the kernel as an
/// `IORING_OP_LINK_TIMEOUT` linked to their SQE: the kernel cancels them at the deadline, no
/// task or timer of ours is involved. Waits that are not ring operations (channels,
/// synchronization, `select`) register a wake-up hook here instead; the first such wait arms one
/// ring timer for the whole scope, which runs the hooks when it fires.
///
/// A scope is found through a task-local, so it covers the calling task and the child tasks it
/// creates (task groups, `async let`), not tasks spawned from inside it (``spawn(on:_:)`` clears
/// it: a connection handler spawned by a loop under a deadline does not inherit the deadline).
@usableFromInline final class DeadlineScope: Sendable {
    @usableFromInline @TaskLocal static var current: DeadlineScope?

    /// Scopes alive in the process. While none is, a wait skips the task-local lookup: the
    /// price of deadlines for code that does not use them is one relaxed atomic load.
    @usableFromInline static let active = Atomic<Int>(0)

    /// This scope's own deadline.
    let deadline: ContinuousClock.Instant
    /// The earliest deadline of this scope and every scope around it: the one that applies.
    let effectiveDeadline: ContinuousClock.Instant

    private struct State {
        var hooks: [UInt64: @Sendable () -> Void] = [:]
        var nextToken: UInt64 = 0
        /// The deadline was reached (the timer fired or a wait saw the clock past it).
        var expired = false
        /// The scope's body returned; hooks are no longer taken.
        var ended = false
        var timerRequested = false
        var timer: (core: Core, id: OperationID)?
    }

    private let state = Lock(State())

    init(deadline: ContinuousClock.Instant, parent: DeadlineScope?) {
        self.deadline = deadline
        effectiveDeadline = parent.map { min($0.effectiveDeadline, deadline) } ?? deadline
    }

    /// The scope of the calling task, if any (one atomic load when no scope exists anywhere).
    @inlinable static var ofCurrentTask: DeadlineScope? {
        active.load(ordering: .relaxed) == 0 ? nil : current
    }

    /// Whether the deadline that applies has passed.
    @usableFromInline var isExpired: Bool {
        if ContinuousClock.now >= effectiveDeadline { return true }
        return state.withLock { $0.expired }
    }

    /// The time left, zero once expired.
    var remaining: Duration {
        let left = ContinuousClock.now.duration(to: effectiveDeadline)
        return left < .zero ? .zero : left
    }

    /// Registers `hook` to run once when the deadline passes. Returns a token for
    /// ``unregister(_:)``, or nil if the deadline has already passed (the caller stops waiting).
    /// Must be called from a task (it may arm the scope's timer on the caller's core).
    @usableFromInline func register(_ hook: @escaping @Sendable () -> Void) -> UInt64? {
        if ContinuousClock.now >= effectiveDeadline { return nil }
        let (token, armTimer) = state.withLock { state -> (UInt64?, Bool) in
            guard !state.expired, !state.ended else { return (nil, false) }
            state.nextToken &+= 1
            state.hooks[state.nextToken] = hook
            defer { state.timerRequested = true }
            return (state.nextToken, !state.timerRequested)
        }
        // The timer is armed outside the lock: arming may reap completions, whose handlers may
        // take this lock (a timer of this very scope cannot fire yet, but keep the rule simple).
        if armTimer { startTimer() }
        return token
    }

    /// Takes a hook back (the wait ended by itself). Harmless after the deadline fired.
    @usableFromInline func unregister(_ token: UInt64) {
        state.withLock { _ = $0.hooks.removeValue(forKey: token) }
    }

    /// Marks the scope expired and runs every registered hook (outside the lock).
    func fire() {
        let hooks = state.withLock { state -> [@Sendable () -> Void] in
            state.expired = true
            defer { state.hooks.removeAll() }
            return Array(state.hooks.values)
        }
        for hook in hooks { hook() }
    }

    /// Called once the body returned: no hook is taken any more, and the timer is cancelled.
    func end() {
        let timer = state.withLock { state -> (core: Core, id: OperationID)? in
            state.ended = true
            state.hooks.removeAll()
            defer { state.timer = nil }
            return state.timer
        }
        if let timer { timer.core.cancelOperation(timer.id) }
    }

    private func startTimer() {
        let nanoseconds = remaining.clampedNanoseconds
        guard let core = Core.current else {
            // Off a core (a plain Swift task): a sleeping task stands in for the ring timer.
            Task { [self] in
                try? await Task.sleep(for: remaining)
                fire()
            }
            return
        }
        let id = core.armCallbackTimer(nanoseconds: Int64(clamping: nanoseconds)) { [self] result in
            if result != -ECANCELED { fire() }
        }
        let cancelNow = state.withLock { state -> Bool in
            if state.ended { return true }
            state.timer = (core, id)
            return false
        }
        if cancelNow { core.cancelOperation(id) }
    }
}

/// Whether a wait of the calling task should stop: the task is cancelled, or the deadline of
/// its ``withDeadline(_:_:)`` scope has passed.
@inlinable var isWaitCancelled: Bool {
    if Task.isCancelled { return true }
    guard let scope = DeadlineScope.ofCurrentTask else { return false }
    return scope.isExpired
}

/// Throws `CancellationError` if ``isWaitCancelled``.
@inlinable func checkWaitCancellation() throws(CancellationError) {
    if isWaitCancelled { throw CancellationError() }
}
