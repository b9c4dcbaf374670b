import Synchronization

/// Every receiver sees every value: a bounded history that receivers read at their own pace.
///
/// ```swift
/// let events = Broadcast.Sender<Event>(capacity: 16)
/// let inbox = events.subscribe()
/// events.send(.started)
/// switch try await inbox.receive() { ... }
/// ```
///
/// **Lag.** The sender never waits. The last `capacity` values are kept; a receiver that falls
/// further behind gets ``BroadcastError/lagged(_:)`` with the number of values it missed, and then
/// continues from the oldest value still kept.
///
/// **Disconnection.** When the sender is deinitialised (or ``Sender/close()`` is called),
/// receivers get what they have not read yet and then ``BroadcastError/closed``.
public enum Broadcast {
    /// The sending side; ``subscribe()`` makes receivers.
    public final class Sender<Value: Sendable>: Sendable {
        @usableFromInline let storage: BroadcastStorage<Value>

        /// A channel keeping the last `capacity` values (at least 1).
        @inlinable public init(capacity: Int) {
            precondition(capacity >= 1, "Broadcast.Sender needs a capacity of at least 1, got \(capacity)")
            storage = BroadcastStorage(capacity: capacity)
        }

        deinit { storage.close() }

        /// Sends `value` to every current receiver; returns how many there are.
        @discardableResult
        @inlinable public func send(_ value: Value) -> Int { storage.send(value) }

        /// A receiver that sees every value sent from now on.
        @inlinable public func subscribe() -> Receiver<Value> { Receiver(storage, from: storage.subscribe()) }

        /// Receivers alive now.
        @inlinable public var receiverCount: Int { storage.receiverCount }

        /// Ends the stream: receivers drain and then get `.closed`.
        @inlinable public func close() { storage.close() }
    }

    /// One subscriber. Its ``messages`` sequence yields values and lag notices.
    public final class Receiver<Value: Sendable>: Sendable {
        @usableFromInline let storage: BroadcastStorage<Value>
        @usableFromInline let cursor: Lock<UInt64>

        @inlinable init(_ storage: BroadcastStorage<Value>, from position: UInt64) {
            self.storage = storage
            cursor = Lock(position)
        }

        deinit { storage.unsubscribe() }

        /// Another receiver at this one's position.
        @inlinable public func clone() -> Receiver<Value> {
            Receiver(storage, from: storage.subscribe(at: cursor.withLock { $0 }))
        }

        /// The next value.
        ///
        /// Cancel safety: a cancelled receive does not move this receiver; the value it was
        /// waiting for is the next one received.
        /// - Throws: ``BroadcastError/lagged(_:)`` once after falling behind (the next call
        ///   continues with the oldest value kept), ``BroadcastError/closed`` at the end,
        ///   ``BroadcastError/cancelled`` if the task is cancelled (or the deadline of its
        ///   ``withDeadline(_:isolation:_:)`` scope passes) while waiting.
        @inlinable public func receive() async throws(BroadcastError) -> Value {
            while true {
                let position = cursor.withLock { $0 }
                switch await storage.read(at: position) {
                case .value(let value, let next):
                    cursor.withLock { $0 = next }
                    return value
                case .lagged(let missed, let oldest):
                    cursor.withLock { $0 = oldest }
                    throw .lagged(missed)
                case .closed:
                    throw .closed
                case .cancelled:
                    throw .cancelled
                }
            }
        }

        /// The next value if one is there now, `.lagged` or `.closed` if that is the news, nil if
        /// nothing is there yet (never waits).
        @inlinable public func tryReceive() -> Result<Value, BroadcastError>? {
            cursor.withLock { position -> Result<Value, BroadcastError>? in
                switch storage.state.withLock({ $0.read(at: position) }) {
                case .value(let value, let next)?:
                    position = next
                    return .success(value)
                case .lagged(let missed, let oldest)?:
                    position = oldest
                    return .failure(.lagged(missed))
                case .closed?:
                    return .failure(.closed)
                case .cancelled?, nil:
                    return nil
                }
            }
        }

        /// Values and lag notices until the channel closes (or the task is cancelled).
        @inlinable public var messages: Messages { Messages(receiver: self) }

        /// An `AsyncSequence` over ``Broadcast/Message``.
        public struct Messages: AsyncSequence, Sendable {
            @usableFromInline let receiver: Receiver<Value>
            @inlinable init(receiver: Receiver<Value>) { self.receiver = receiver }
            /// Returns an iterator over the receiver's values and lag notices.
            @inlinable public func makeAsyncIterator() -> Iterator { Iterator(receiver: receiver) }
            /// Yields each value, or a ``Broadcast/Message/lagged(missed:)`` notice after falling
            /// behind.
            public struct Iterator: AsyncIteratorProtocol {
                @usableFromInline let receiver: Receiver<Value>
                @inlinable init(receiver: Receiver<Value>) { self.receiver = receiver }
                /// The next value or lag notice; nil once the channel is closed and drained, or
                /// when the task is cancelled.
                ///
                /// Cancel safety: as ``Broadcast/Receiver/receive()``: a cancelled call does not
                /// move the receiver.
                @inlinable public mutating func next() async -> Message<Value>? {
                    do {
                        return .value(try await receiver.receive())
                    } catch .lagged(let missed) {
                        return .lagged(missed: missed)
                    } catch {
                        return nil
                    }
                }
            }
        }
    }

    /// What a receiver's ``Receiver/messages`` yields.
    public enum Message<Value: Sendable>: Sendable {
        /// A value sent on the channel.
        case value(Value)
        /// This many values were overwritten before the receiver read them.
        case lagged(missed: Int)
    }
}

/// Why a broadcast receive returned no value.
public enum BroadcastError: Error, Sendable, Equatable {
    /// The receiver fell behind by this many values; receiving again continues from the oldest.
    case lagged(Int)
    /// The sender is gone and every value has been read.
    case closed
    /// The receiving task was cancelled.
    case cancelled
}

@usableFromInline final class BroadcastStorage<Value: Sendable>: Sendable {
    @usableFromInline enum ReadResult: Sendable {
        case value(Value, next: UInt64)
        case lagged(Int, oldest: UInt64)
        case closed
        case cancelled
    }

    @usableFromInline struct State {
        @usableFromInline let capacity: Int
        /// Slot i holds the value with sequence number s where s % capacity == i.
        @usableFromInline var slots: [Value?]
        @inlinable init(capacity: Int, slots: [Value?]) {
            self.capacity = capacity
            self.slots = slots
        }
        /// The sequence number the next value gets.
        @usableFromInline var nextSequence: UInt64 = 0
        @usableFromInline var closed = false
        @usableFromInline var receivers = 0
        @usableFromInline var waiters = WaiterQueue<Resumable<Void>>()

        @inlinable var oldestKept: UInt64 { nextSequence > UInt64(capacity) ? nextSequence - UInt64(capacity) : 0 }

        @inlinable func read(at position: UInt64) -> ReadResult? {
            if position < oldestKept { return .lagged(Int(oldestKept - position), oldest: oldestKept) }
            if position < nextSequence {
                return .value(slots[Int(position % UInt64(capacity))]!, next: position + 1)
            }
            return closed ? .closed : nil
        }
    }

    @usableFromInline let state: Lock<State>

    @inlinable init(capacity: Int) {
        state = Lock(State(capacity: capacity, slots: Array(repeating: nil, count: capacity)))
    }

    @inlinable func subscribe(at position: UInt64? = nil) -> UInt64 {
        state.withLock { state in
            state.receivers += 1
            return position ?? state.nextSequence
        }
    }

    @inlinable func unsubscribe() { state.withLock { $0.receivers -= 1 } }

    @inlinable var receiverCount: Int { state.withLock { $0.receivers } }

    @inlinable func send(_ value: Value) -> Int {
        let (count, waiters) = state.withLock { state -> (Int, [Resumable<Void>]) in
            guard !state.closed else { return (0, []) }
            state.slots[Int(state.nextSequence % UInt64(state.capacity))] = value
            state.nextSequence += 1
            return (state.receivers, state.waiters.removeAll())
        }
        for waiter in waiters { waiter.resume(()) }
        return count
    }

    @inlinable func close() {
        let waiters = state.withLock { state -> [Resumable<Void>] in
            state.closed = true
            return state.waiters.removeAll()
        }
        for waiter in waiters { waiter.resume(()) }
    }

    @inlinable func read(at position: UInt64) async -> ReadResult {
        while true {
            if let ready = state.withLock({ $0.read(at: position) }) { return ready }
            let cancelled = Lock(false)
            await suspend(
                register: { waiter, setID in
                    state.withLock { state -> Void? in
                        if state.read(at: position) != nil { return () }
                        if isWaitCancelled {
                            cancelled.withLock { $0 = true }
                            return ()
                        }
                        setID(state.waiters.append(waiter))
                        return nil
                    }
                },
                cancel: { [self] id in state.withLock { $0.waiters.remove(id: id) } },
                cancelledValue: ())
            if cancelled.withLock({ $0 }) || isWaitCancelled {
                if let ready = state.withLock({ $0.read(at: position) }) { return ready }
                return .cancelled
            }
        }
    }

    /// Arms `signal` for a select: fired when a read at `position` would not wait.
    @usableFromInline func watch(_ signal: SelectSignal, at position: UInt64) -> UInt64? {
        let id = state.withLock { state -> UInt64? in
            if state.read(at: position) != nil { return nil }
            return state.waiters.append(.select(signal))
        }
        if id == nil { signal.fire() }
        return id
    }

    @usableFromInline func unwatch(_ id: UInt64) {
        state.withLock { _ = $0.waiters.remove(id: id) }
    }
}
