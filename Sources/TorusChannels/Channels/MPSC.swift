import Synchronization

/// Multi-producer, single-consumer channels: the way tasks (on any core) send work to one owner.
///
/// ```swift
/// let (commands, inbox) = MPSC.bounded(Command.self, capacity: 32)
/// spawn { for await command in inbox { handle(command) } }   // the owner
/// try await commands.send(.get("hello"))                     // any task, any core
/// ```
///
/// **Backpressure.** A bounded channel holds at most `capacity` values; `send` then waits until
/// the receiver takes one. `trySend` never waits.
///
/// **Disconnection.** When every ``Sender`` is gone (deinitialised), the receiver gets what is
/// still queued and then `nil`: iteration ends. When the ``Receiver`` is gone or closed, `send`
/// fails with ``SendError`` and hands the value back.
///
/// **Cancel safety.** A cancelled `send` that was waiting for room throws ``SendError`` with
/// reason `.cancelled` and hands the value back; nothing was enqueued. A cancelled `receive`
/// throws `CancellationError` and takes nothing: the value stays queued for the next receive.
/// (A value handed to the receive in the same instant as the cancellation is returned, not
/// dropped.) The same holds when the deadline of a ``withDeadline(_:isolation:_:)`` scope stops
/// the wait, and a channel branch of ``select(biased:_:otherwise:isolation:)`` takes a value only
/// when it wins, so loops of selects never lose or duplicate one.
///
/// **Cores.** Every type is `Sendable`. Waking a waiter resumes its task on its own core: a
/// local queue push on the same core, a mailbox message across cores.
public enum MPSC {
    /// A channel holding at most `capacity` values (at least 1).
    @inlinable public static func bounded<Value: Sendable>(_ type: Value.Type = Value.self, capacity: Int) -> (Sender<Value>, Receiver<Value>) {
        precondition(capacity >= 1, "MPSC.bounded needs a capacity of at least 1, got \(capacity)")
        let storage = MPSCStorage<Value>(capacity: capacity)
        return (Sender(storage), Receiver(storage))
    }

    /// A channel without a bound: `send` never waits. Use it only where the producer is
    /// naturally limited, or memory grows without limit.
    @inlinable public static func unbounded<Value: Sendable>(_ type: Value.Type = Value.self) -> (Sender<Value>, Receiver<Value>) {
        let storage = MPSCStorage<Value>(capacity: nil)
        return (Sender(storage), Receiver(storage))
    }

    /// The sending side. Share it (it is `Sendable`) or ``clone()`` it; the channel counts
    /// sender objects, and closes for the receiver when the last one is deinitialised or
    /// ``finish()``ed.
    ///
    /// A sender held in a local variable lives until the end of its scope, which can keep the
    /// receiver waiting: call ``finish()`` when a producer is done, or move the sender into the
    /// producing task.
    public final class Sender<Value: Sendable>: Sendable {
        @usableFromInline let storage: MPSCStorage<Value>
        @usableFromInline let finished = Atomic<Bool>(false)

        @inlinable init(_ storage: MPSCStorage<Value>) { self.storage = storage }

        deinit { finish() }

        /// Declares this sender done: it stops counting towards keeping the channel open, and
        /// later sends through it fail with `.closed`. Idempotent.
        @inlinable public func finish() {
            guard !finished.exchange(true, ordering: .acquiringAndReleasing) else { return }
            storage.senderGone()
        }

        /// Another sender on the same channel.
        @inlinable public func clone() -> Sender<Value> {
            storage.senderAdded()
            return Sender(storage)
        }

        /// Sends `value`, waiting while the channel is full.
        ///
        /// Cancel safety: a cancelled wait hands the value back in the error, not enqueued.
        /// - Throws: ``SendError`` with the value when the receiver is gone (`.closed`) or the
        ///   task is cancelled while waiting (`.cancelled`, also when a deadline scope's
        ///   deadline passes).
        @inlinable public func send(_ value: Value) async throws(SendError<Value>) {
            if finished.load(ordering: .relaxed) { throw SendError(reason: .closed, value: value) }
            try await storage.send(value)
        }

        /// Sends `value` if there is room now.
        /// - Throws: ``TrySendError`` (`.full` or `.closed`) with the value.
        @inlinable public func trySend(_ value: Value) throws(TrySendError<Value>) {
            if finished.load(ordering: .relaxed) { throw .closed(value) }
            try storage.trySend(value)
        }

        /// Sends from a plain (non-runtime) thread, blocking it while the channel is full.
        /// Must not be called on a Torus core: it would block the core.
        @inlinable public func blockingSend(_ value: Value) throws(SendError<Value>) {
            precondition(!RuntimeThread.isRuntimeThread, "blockingSend on a Torus core would block it; use send")
            if finished.load(ordering: .relaxed) { throw SendError(reason: .closed, value: value) }
            try storage.blockingSend(value)
        }

        /// Whether the receiver is gone or closed.
        @inlinable public var isClosed: Bool { storage.isClosedForSenders }
    }

    /// The receiving side, an `AsyncSequence` of the values sent. Iteration ends once every
    /// sender is gone and the queue is drained, or when the iterating task is cancelled (then
    /// without taking a value: what is queued stays for a later receive).
    public final class Receiver<Value: Sendable>: AsyncSequence, Sendable {
        @usableFromInline let storage: MPSCStorage<Value>

        @inlinable init(_ storage: MPSCStorage<Value>) { self.storage = storage }

        deinit { storage.receiverGone() }

        /// The next value, waiting for one; `nil` when the channel is closed and drained.
        ///
        /// Cancel safety: a cancelled receive takes nothing (the value stays queued), and a value
        /// handed over in the same instant as the cancellation is returned.
        /// - Throws: `CancellationError` when the task is cancelled, or the deadline of its
        ///   ``withDeadline(_:isolation:_:)`` scope passes, before a value arrives: a cancelled
        ///   receive is never mistaken for a closed channel.
        @inlinable public func receive() async throws(CancellationError) -> Value? { try await storage.receive() }

        /// The next value if one is queued now.
        @inlinable public func tryReceive() -> TryReceiveResult<Value> { storage.tryReceive() }

        /// Receives on a plain (non-runtime) thread, blocking it until a value arrives or the
        /// channel closes. Must not be called on a Torus core.
        @inlinable public func blockingReceive() -> Value? {
            precondition(!RuntimeThread.isRuntimeThread, "blockingReceive on a Torus core would block it; use receive")
            return storage.blockingReceive()
        }

        /// Stops further sends (they fail with `.closed`); what is queued can still be received.
        @inlinable public func close() { storage.close() }

        /// Values queued now.
        @inlinable public var count: Int { storage.count }

        /// Returns an iterator that receives values until the channel is closed and drained.
        @inlinable public func makeAsyncIterator() -> Iterator { Iterator(receiver: self) }

        /// Receives values one by one; see ``MPSC/Receiver/receive()``.
        public struct Iterator: AsyncIteratorProtocol {
            @usableFromInline let receiver: Receiver<Value>
            @inlinable init(receiver: Receiver<Value>) { self.receiver = receiver }
            /// The next value; nil at the end, or when the task is cancelled (taking nothing).
            ///
            /// Cancel safety: as ``MPSC/Receiver/receive()``: a cancelled call takes nothing; the
            /// value stays queued for the next call.
            @inlinable public mutating func next() async -> Value? { try? await receiver.receive() }
        }
    }
}
