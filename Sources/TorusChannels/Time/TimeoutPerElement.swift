extension AsyncSequence {
    /// The same elements, failing with ``TimeoutError`` when one takes longer than `limit` to
    /// arrive (tokio-stream's `timeout`). Each wait runs in a ``withDeadline(_:isolation:_:)``
    /// scope: no task or timer per element beyond the ring's.
    ///
    /// Cancel safety: as the base sequence's: over a Torus channel, a timed-out wait takes
    /// nothing, and iterating again continues with the next value.
    ///
    /// For throttling, debouncing and merging sequences, swift-async-algorithms works on Torus
    /// cores as it is: its timers use `Task.sleep`, which Torus serves with the ring.
    public func timeout(perElement limit: Duration) -> TimeoutPerElementSequence<Self> {
        TimeoutPerElementSequence(base: self, limit: limit)
    }
}

/// The sequence ``_Concurrency/AsyncSequence/timeout(perElement:)`` returns.
public struct TimeoutPerElementSequence<Base: AsyncSequence>: AsyncSequence {
    /// The base sequence's element.
    public typealias Element = Base.Element
    let base: Base
    let limit: Duration

    /// Returns an iterator that gives each `next()` of the base its own time limit.
    public func makeAsyncIterator() -> Iterator { Iterator(base: base.makeAsyncIterator(), limit: limit) }

    /// Waits for each element of the base for at most the limit.
    public struct Iterator: AsyncIteratorProtocol {
        var base: Base.AsyncIterator
        let limit: Duration

        /// The next element, or nil at the end.
        ///
        /// Cancel safety: a timed-out or cancelled wait is one of the base iterator's, so its note
        /// applies: over a Torus channel it takes nothing, and the next call continues with the
        /// next value.
        ///
        /// - Throws: ``TimeoutError`` when none came within the limit; what the base threw.
        public mutating func next() async throws -> Element? {
            let deadline = ContinuousClock.now.advanced(by: limit)
            let element = try await withDeadline(deadline) { try await base.next() }
            // A sequence whose iterator ends quietly when cancelled (a channel's `for await`)
            // returns nil at the deadline instead of throwing: that is a timeout too.
            if element == nil && ContinuousClock.now >= deadline { throw TimeoutError(duration: limit) }
            return element
        }
    }
}
