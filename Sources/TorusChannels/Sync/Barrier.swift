import Synchronization

/// Makes `count` tasks wait until all of them have arrived; reusable, one generation at a time.
public final class Barrier: Sendable {
    @usableFromInline struct State {
        @usableFromInline var arrived = 0
        @usableFromInline var waiters: [Resumable<Bool>] = []
        @inlinable init() {}
    }

    @usableFromInline let count: Int
    @usableFromInline let state = Lock(State())

    /// A barrier for `count` tasks (at least 1): the `count`-th ``wait()`` releases them all.
    @inlinable public init(count: Int) {
        precondition(count >= 1, "Barrier needs at least one participant")
        self.count = count
    }

    /// Waits for the others. Returns true in exactly one task of each generation (the last to
    /// arrive: the "leader", as tokio's `BarrierWaitResult::is_leader`).
    ///
    /// Cancel safety: not interrupted: the wait ignores cancellation and deadlines, so a task that
    /// has arrived stays counted and waits for the rest of its generation.
    @inlinable public func wait() async -> Bool {
        await withUnsafeContinuation { (continuation: UnsafeContinuation<Bool, Never>) in
            let released = state.withLock { state -> [Resumable<Bool>]? in
                state.arrived += 1
                if state.arrived == count {
                    let others = state.waiters
                    state.waiters = []
                    state.arrived = 0
                    return others
                }
                state.waiters.append(.task(continuation))
                return nil
            }
            if let released {
                for waiter in released { waiter.resume(false) }
                continuation.resume(returning: true)
            }
        }
    }
}
