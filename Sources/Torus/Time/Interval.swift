/// What an ``Interval`` does when a tick is late (the consumer took longer than a period).
public enum MissedTickBehavior: Sendable {
    /// Fire the missed ticks back to back until caught up (tokio's default).
    case burst
    /// Restart the schedule from the late tick: the next one is a full period later.
    case delay
    /// Drop the missed ticks and fire at the next multiple of the period.
    case skip
}

/// Ticks every `period`, as an `AsyncSequence` of the instants the ticks were due.
///
/// The first tick is immediate. Each wait is an `IORING_OP_TIMEOUT` on the caller's core.
/// Iteration ends (returns nil) when the task is cancelled.
///
/// **Cancel safety.** A cancelled `next()` consumes no tick: it returns nil, and an iterator
/// asked again waits for the same tick (a late one is then handled by the missed-tick
/// behavior). A ``withTimeout(_:isolation:_:)`` deadline ends the wait the same way: `next()`
/// returns nil rather than throwing, so the scope sees no timeout.
public struct Interval: AsyncSequence, Sendable {
    /// The instant each tick was due.
    public typealias Element = ContinuousClock.Instant

    /// The time between ticks.
    public let period: Duration
    /// What happens to ticks missed because the consumer was late.
    public let missedTickBehavior: MissedTickBehavior

    /// Returns an iterator whose first tick is due now.
    public func makeAsyncIterator() -> Iterator {
        Iterator(period: period, behavior: missedTickBehavior, first: .now)
    }

    /// Waits for each tick in turn.
    public struct Iterator: AsyncIteratorProtocol {
        let period: Duration
        let behavior: MissedTickBehavior
        let first: ContinuousClock.Instant
        var lastDue: ContinuousClock.Instant?

        /// The instant the next tick was due, after waiting for it; nil once the task is
        /// cancelled.
        ///
        /// Cancel safety: a cancelled call returns nil and consumes no tick (the next call
        /// waits for the same one).
        public mutating func next() async -> ContinuousClock.Instant? {
            // Lateness is judged when the consumer asks for the next tick, i.e. after it has
            // finished with the previous one.
            var due = first
            if let lastDue {
                due = lastDue + period
                let now = ContinuousClock.now
                if due < now {
                    switch behavior {
                    case .burst:
                        break
                    case .delay:
                        due = now
                    case .skip:
                        let periodsBehind = (lastDue.duration(to: now) / period).rounded(.up)
                        due = lastDue + period * periodsBehind
                    }
                }
            }
            do { try await sleep(until: due) } catch { return nil }
            lastDue = due
            return due
        }
    }
}

/// An ``Interval`` ticking every `period`.
/// - Precondition: `period` is positive.
public func interval(every period: Duration, missedTickBehavior: MissedTickBehavior = .burst) -> Interval {
    precondition(period > .zero, "interval(every:) needs a positive period, got \(period)")
    return Interval(period: period, missedTickBehavior: missedTickBehavior)
}
