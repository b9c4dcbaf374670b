import Synchronization

/// The latest value only: a sender publishes, receivers read the current value and can wait
/// for the next change (configuration, health, a shutdown flag).
///
/// ```swift
/// let (config, watcher) = Watch.channel(Config.default)
/// config.send(newConfig)
/// while true {
///     try await watcher.changed()   // waits for a change; throws WatchError.closed at the end
///     apply(watcher.current)
/// }
/// ```
///
/// **Cancel safety.** A cancelled ``Receiver/changed()`` marks nothing seen: the change it was
/// waiting for is still reported by the next call.
///
/// Receivers see the *latest* value, not every value: two quick sends may be observed as one
/// change. When the sender is gone, ``Receiver/changed()`` throws ``WatchError/closed``.
public enum Watch {
    /// A watch channel holding `initial`.
    @inlinable public static func channel<Value: Sendable>(_ initial: Value) -> (Sender<Value>, Receiver<Value>) {
        let storage = WatchStorage(initial)
        return (Sender(storage), Receiver(storage, seen: 0))
    }

    /// The sending end: holds the value and wakes receivers when it changes. Dropping it closes the
    /// channel (the receivers' sequences end).
    public final class Sender<Value: Sendable>: Sendable {
        @usableFromInline let storage: WatchStorage<Value>
        @inlinable init(_ storage: WatchStorage<Value>) { self.storage = storage }
        deinit { storage.close() }

        /// Replaces the value and wakes every waiting receiver.
        @inlinable public func send(_ value: Value) { storage.update { $0 = value } }

        /// Changes the value in place and wakes every waiting receiver.
        @inlinable public func modify(_ body: (inout Value) -> Void) { storage.update(body) }

        /// The current value.
        @inlinable public var current: Value { storage.snapshot().value }

        /// A receiver that has seen the current value.
        @inlinable public func subscribe() -> Receiver<Value> {
            Receiver(storage, seen: storage.snapshot().version)
        }
    }

    /// A receiving end: reads the current value and waits for changes; an `AsyncSequence` of the
    /// values it sees.
    public final class Receiver<Value: Sendable>: Sendable, AsyncSequence {
        @usableFromInline let storage: WatchStorage<Value>
        @usableFromInline let seen: Lock<UInt64>

        @inlinable init(_ storage: WatchStorage<Value>, seen: UInt64) {
            self.storage = storage
            self.seen = Lock(seen)
        }

        /// The latest value (marks it as seen).
        @inlinable public var current: Value {
            let (value, version) = storage.snapshot()
            seen.withLock { $0 = version }
            return value
        }

        /// Whether a value newer than the last one read is there.
        @inlinable public var hasChanged: Bool { storage.snapshot().version != seen.withLock { $0 } }

        /// Waits until the value changes after the last one this receiver read, then marks it seen.
        ///
        /// Cancel safety: a cancelled wait marks nothing seen.
        /// - Throws: ``WatchError/closed`` when the sender is gone (and nothing newer is there),
        ///   `CancellationError` if the task is cancelled (or the deadline of its
        ///   ``withDeadline(_:isolation:_:)`` scope passes).
        @inlinable public func changed() async throws {
            let version = try await storage.waitForVersion(after: seen.withLock { $0 })
            seen.withLock { $0 = version }
        }

        /// The outcome of ``tryChanged()``.
        public enum TryChanged {
            /// A newer value, now marked seen.
            case changed(Value)
            /// Nothing newer, and the sender is still there.
            case unchanged
            /// Nothing newer, and the sender is gone.
            case closed
        }

        /// The newer value if there is one (marking it seen), without waiting.
        @inlinable public func tryChanged() -> TryChanged {
            let (value, version, closed) = storage.state.withLock { ($0.value, $0.version, $0.closed) }
            return seen.withLock { seen -> TryChanged in
                if version != seen {
                    seen = version
                    return .changed(value)
                }
                return closed ? .closed : .unchanged
            }
        }

        /// Another receiver, at this one's position.
        @inlinable public func clone() -> Receiver<Value> { Receiver(storage, seen: seen.withLock { $0 }) }

        /// The current value first, then each new value as it changes; ends when the sender goes.
        @inlinable public func makeAsyncIterator() -> Iterator { Iterator(receiver: self, first: true) }

        /// Yields the current value first, then each new value, until the sender is gone.
        public struct Iterator: AsyncIteratorProtocol {
            @usableFromInline let receiver: Receiver<Value>
            @usableFromInline var first: Bool
            @inlinable init(receiver: Receiver<Value>, first: Bool) {
                self.receiver = receiver
                self.first = first
            }
            /// The current value on the first call, then the next change; nil once the sender is
            /// gone or the task is cancelled.
            ///
            /// Cancel safety: as ``Watch/Receiver/changed()``: a cancelled wait marks nothing seen.
            @inlinable public mutating func next() async -> Value? {
                if first {
                    first = false
                    return receiver.current
                }
                do { try await receiver.changed() } catch { return nil }
                return receiver.current
            }
        }
    }
}

/// Why ``Watch/Receiver/changed()`` failed.
public enum WatchError: Error, Sendable, Equatable {
    /// The sender is gone: no further change can happen.
    case closed
}

@usableFromInline final class WatchStorage<Value: Sendable>: Sendable {
    @usableFromInline struct State {
        @usableFromInline var value: Value
        @usableFromInline var version: UInt64 = 0
        @usableFromInline var closed = false
        @inlinable init(value: Value) { self.value = value }
        @usableFromInline var waiters = WaiterQueue<Resumable<Void>>()
    }

    @usableFromInline let state: Lock<State>

    @inlinable init(_ value: Value) { state = Lock(State(value: value)) }

    @inlinable func snapshot() -> (value: Value, version: UInt64) { state.withLock { ($0.value, $0.version) } }

    @inlinable func update(_ body: (inout Value) -> Void) {
        let waiters = state.withLock { state -> [Resumable<Void>] in
            body(&state.value)
            state.version += 1
            return state.waiters.removeAll()
        }
        for waiter in waiters { waiter.resume(()) }
    }

    @inlinable func close() {
        let waiters = state.withLock { state -> [Resumable<Void>] in
            state.closed = true
            return state.waiters.removeAll()
        }
        for waiter in waiters { waiter.resume(()) }
    }

    @inlinable func waitForVersion(after seen: UInt64) async throws -> UInt64 {
        while true {
            let (version, closed) = state.withLock { ($0.version, $0.closed) }
            if version != seen { return version }
            if closed { throw WatchError.closed }
            try checkWaitCancellation()
            await suspend(
                register: { waiter, setID in
                    state.withLock { state -> Void? in
                        if state.version != seen || state.closed || isWaitCancelled { return () }
                        setID(state.waiters.append(waiter))
                        return nil
                    }
                },
                cancel: { [self] id in state.withLock { $0.waiters.remove(id: id) } },
                cancelledValue: ())
        }
    }

    /// Arms `signal` for a select: fired when the version moves past `seen` or the sender goes.
    @usableFromInline func watch(_ signal: SelectSignal, after seen: UInt64) -> UInt64? {
        let id = state.withLock { state -> UInt64? in
            if state.version != seen || state.closed { return nil }
            return state.waiters.append(.select(signal))
        }
        if id == nil { signal.fire() }
        return id
    }

    @usableFromInline func unwatch(_ id: UInt64) {
        state.withLock { _ = $0.waiters.remove(id: id) }
    }
}
