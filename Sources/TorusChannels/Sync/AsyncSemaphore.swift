import Synchronization

/// An async counting semaphore with FIFO fairness: bound how many tasks do something at once.
///
/// ```swift
/// let connections = AsyncSemaphore(permits: 100)
/// try await connections.withPermits { try await handle(client) }
/// ```
///
/// A waiter asking for several permits is served only when all of them are free, and it blocks
/// the waiters behind it (no starvation of large requests). A cancelled waiter leaves the queue
/// holding nothing; permits come back on ``Permit/release()`` or when a ``Permit`` is
/// deinitialised.
public final class AsyncSemaphore: Sendable {
    @usableFromInline struct Waiter {
        @usableFromInline let count: Int
        @usableFromInline let resume: Resumable<Bool>
        @inlinable init(count: Int, resume: Resumable<Bool>) {
            self.count = count
            self.resume = resume
        }
    }

    @usableFromInline struct State {
        @usableFromInline var available: Int
        @usableFromInline var waiters = WaiterQueue<Waiter>()
        @usableFromInline var closed = false
        @inlinable init(available: Int) { self.available = available }

        /// Grants permits to waiters at the head of the queue while they fit.
        @inlinable mutating func grant() -> [Resumable<Bool>] {
            var granted: [Resumable<Bool>] = []
            while let head = waiters.first, head.count <= available {
                available -= head.count
                granted.append(waiters.removeFirst()!.resume)
            }
            return granted
        }
    }

    @usableFromInline let state: Lock<State>

    /// A semaphore with `permits` permits available.
    @inlinable public init(permits: Int) {
        precondition(permits >= 0, "AsyncSemaphore needs a non-negative number of permits, got \(permits)")
        state = Lock(State(available: permits))
    }

    /// Permits free now.
    @inlinable public var availablePermits: Int { state.withLock { $0.available } }

    /// Waits for `count` permits.
    ///
    /// Cancel safety: a wait stopped by cancellation or a deadline takes no permit, and if it
    /// was at the head of the queue the waiters behind it that now fit are served at once.
    /// Permits granted in the same instant as the cancellation are returned as a ``Permit``,
    /// never dropped (and released when it goes away). Free permits are taken without checking
    /// for cancellation.
    /// - Throws: `CancellationError` if cancelled while waiting (no permit is held then).
    @inlinable public func acquire(_ count: Int = 1) async throws -> Permit {
        precondition(count >= 1, "acquire needs at least one permit")
        if let permit = tryAcquire(count) { return permit }
        let granted = await suspend(
            register: { waiter, setID in
                state.withLock { state -> Bool? in
                    if state.waiters.isEmpty && state.available >= count {
                        state.available -= count
                        return true
                    }
                    if isWaitCancelled { return false }
                    setID(state.waiters.append(Waiter(count: count, resume: waiter)))
                    return nil
                }
            },
            cancel: { [self] id in
                // Leaving the head of the queue may let the waiters behind us through.
                let (removed, granted) = state.withLock { state -> (Resumable<Bool>?, [Resumable<Bool>]) in
                    let removed = state.waiters.remove(id: id)?.resume
                    return (removed, state.grant())
                }
                for waiter in granted { waiter.resume(true) }
                return removed
            },
            cancelledValue: false)
        guard granted else { throw CancellationError() }
        return Permit(semaphore: self, count: count)
    }

    /// Takes `count` permits if they are free now and nobody is queued.
    @inlinable public func tryAcquire(_ count: Int = 1) -> Permit? {
        let ok = state.withLock { state -> Bool in
            guard state.waiters.isEmpty, state.available >= count else { return false }
            state.available -= count
            return true
        }
        return ok ? Permit(semaphore: self, count: count) : nil
    }

    /// Runs `body` holding `count` permits.
    ///
    /// Cancel safety: as ``acquire(_:)``; the permits are released when `body` returns or
    /// throws.
    @inlinable public func withPermits<R: Sendable>(_ count: Int = 1, _ body: () async throws -> R) async throws -> R {
        let permit = try await acquire(count)
        defer { permit.release() }
        return try await body()
    }

    /// Adds permits (for example when capacity grows).
    @inlinable public func addPermits(_ count: Int) {
        let granted = state.withLock { state -> [Resumable<Bool>] in
            state.available += count
            return state.grant()
        }
        for waiter in granted { waiter.resume(true) }
    }

    /// Permits held by one acquirer; released once, explicitly or on deinit.
    public final class Permit: Sendable {
        @usableFromInline let semaphore: AsyncSemaphore
        @usableFromInline let count: Int
        @usableFromInline let released = Atomic<Bool>(false)

        @inlinable init(semaphore: AsyncSemaphore, count: Int) {
            self.semaphore = semaphore
            self.count = count
        }

        /// Returns the permits. Calling it again does nothing.
        @inlinable public func release() {
            guard !released.exchange(true, ordering: .acquiringAndReleasing) else { return }
            semaphore.addPermits(count)
        }

        deinit { release() }
    }
}
