import Synchronization

/// A mutual-exclusion lock that may be held across `await`, handed to waiters in FIFO order.
///
/// Use it when a critical section must await (I/O under the lock); for short sections that do
/// not await, `Mutex` from the Synchronization module is cheaper.
///
/// ```swift
/// let connections = AsyncMutex([String: Connection]())
/// try await connections.withLock { table in
///     table[key] = try await Connection.open(key)   // held across the await
/// }
/// ```
///
/// **Cancellation.** A task cancelled while waiting leaves the queue and gets
/// `CancellationError`; one that already received the lock keeps it and runs its body.
///
/// **Cancel safety.** A cancelled wait takes nothing: the lock is never handed to a waiter that
/// left, so it goes to the next one in line (or stays free). The deadline of a
/// ``withTimeout(_:isolation:_:)`` scope stops a wait the same way.
public final class AsyncMutex<Value: Sendable>: Sendable {
    @usableFromInline struct State {
        @usableFromInline var locked = false
        @usableFromInline var waiters = WaiterQueue<Resumable<Bool>>()
        @inlinable init() {}
    }

    @usableFromInline let state = Lock(State())
    // SAFETY (Sendable): `value` is read and written only by the task that holds the lock.
    @usableFromInline nonisolated(unsafe) var value: Value

    /// A mutex protecting `value`.
    @inlinable public init(_ value: Value) { self.value = value }

    /// Runs `body` with exclusive access to the value, waiting for the lock first.
    ///
    /// Cancel safety: a wait stopped by cancellation or a deadline holds no lock and leaves the
    /// value untouched; the lock passes to the next waiter. A lock granted in the same instant
    /// as the cancellation is kept and `body` runs (as it does when the lock is free: taking a
    /// free lock does not check for cancellation). The lock is released when `body` returns or
    /// throws, so a `body` stopped halfway leaves the value as far as it got.
    /// - Throws: `CancellationError` if cancelled while waiting; whatever `body` throws.
    @inlinable public func withLock<Result: Sendable>(_ body: (inout Value) async throws -> Result) async throws -> Result {
        try await lock()
        defer { unlock() }
        return try await body(&value)
    }

    @inlinable func lock() async throws {
        // Uncontended: take it without suspending.
        let taken = state.withLock { state -> Bool in
            if state.locked { return false }
            state.locked = true
            return true
        }
        if taken { return }
        let granted = await suspend(
            register: { waiter, setID in
                state.withLock { state -> Bool? in
                    if !state.locked {
                        state.locked = true
                        return true
                    }
                    if isWaitCancelled { return false }
                    setID(state.waiters.append(waiter))
                    return nil
                }
            },
            cancel: { [self] id in state.withLock { $0.waiters.remove(id: id) } },
            cancelledValue: false)
        if !granted { throw CancellationError() }
    }

    @inlinable func unlock() {
        // Hand the lock straight to the next waiter (it stays locked): FIFO, no barging.
        let next = state.withLock { state -> Resumable<Bool>? in
            if let next = state.waiters.removeFirst() { return next }
            state.locked = false
            return nil
        }
        next?.resume(true)
    }

    /// Whether some task holds the lock now.
    @inlinable public var isLocked: Bool { state.withLock { $0.locked } }
}
