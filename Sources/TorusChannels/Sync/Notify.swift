import Synchronization

/// Wakes waiting tasks without sending data.
///
/// The no-lost-wakeup rule (as in tokio): ``notifyOne()`` with nobody waiting stores one permit,
/// and the next ``notified()`` returns at once by consuming it. At most one permit is stored.
/// ``notifyAll()`` wakes everyone waiting now and stores nothing.
public final class Notify: Sendable {
    @usableFromInline struct State {
        @usableFromInline var permit = false
        @usableFromInline var waiters = WaiterQueue<Resumable<Bool>>()
        @inlinable init() {}
    }

    @usableFromInline let state = Lock(State())

    /// A `Notify` with no stored permit.
    @inlinable public init() {}

    /// Waits for a notification (or consumes a stored permit).
    ///
    /// Cancel safety: a wait stopped by cancellation or a deadline consumes no notification: it
    /// leaves the queue, so a later ``notifyOne()`` wakes the next waiter or stores its permit
    /// for the next `notified()`. A stored permit is consumed even by a cancelled task, which
    /// then returns normally.
    /// - Throws: `CancellationError` if cancelled while waiting. A waiter that a notification
    ///   reaches in the same instant as its cancellation returns normally: the notification is
    ///   never lost.
    @inlinable public func notified() async throws {
        let hadPermit = state.withLock { state -> Bool in
            guard state.permit else { return false }
            state.permit = false
            return true
        }
        if hadPermit { return }
        let woken = await suspend(
            register: { waiter, setID in
                state.withLock { state -> Bool? in
                    if state.permit {
                        state.permit = false
                        return true
                    }
                    if isWaitCancelled { return false }
                    setID(state.waiters.append(waiter))
                    return nil
                }
            },
            cancel: { [self] id in state.withLock { $0.waiters.remove(id: id) } },
            cancelledValue: false)
        if !woken { throw CancellationError() }
    }

    /// Wakes the oldest waiter, or stores a permit if nobody waits.
    @inlinable public func notifyOne() {
        let waiter = state.withLock { state -> Resumable<Bool>? in
            if let waiter = state.waiters.removeFirst() { return waiter }
            state.permit = true
            return nil
        }
        waiter?.resume(true)
    }

    /// Wakes every task waiting now.
    @inlinable public func notifyAll() {
        let waiters = state.withLock { $0.waiters.removeAll() }
        for waiter in waiters { waiter.resume(true) }
    }
}
