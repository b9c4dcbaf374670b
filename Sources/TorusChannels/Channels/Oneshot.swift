import Synchronization

/// A channel for exactly one value: the reply half of a request (the seed's manager task
/// answers each command through one).
///
/// ```swift
/// let (reply, response) = Oneshot.channel(String.self)
/// try await commands.send(.get(key: "hello", reply: reply))
/// let value = try await response.value
/// ```
///
/// **Disconnection.** If the ``Sender`` is deinitialised without sending, the receiver gets
/// ``OneshotError/senderDropped``. ``Sender/send(_:)`` returns false (and the value is dropped)
/// when the receiver is already gone.
public enum Oneshot {
    /// A new oneshot channel.
    @inlinable public static func channel<Value: Sendable>(_ type: Value.Type = Value.self) -> (Sender<Value>, Receiver<Value>) {
        let storage = OneshotStorage<Value>()
        return (Sender(storage), Receiver(storage))
    }

    /// Sends the one value. `Sendable`: hand it to whichever task will answer.
    public final class Sender<Value: Sendable>: Sendable {
        @usableFromInline let storage: OneshotStorage<Value>
        @inlinable init(_ storage: OneshotStorage<Value>) { self.storage = storage }
        deinit { storage.complete(.failure(.senderDropped)) }

        /// Sends `value`. Returns false if the receiver is gone or a value was already sent.
        @discardableResult
        @inlinable public func send(_ value: Value) -> Bool { storage.complete(.success(value)) }

        /// Whether the receiver is gone (so computing a reply is wasted work).
        @inlinable public var isClosed: Bool { storage.isReceiverGone }
    }

    /// Receives the one value.
    public final class Receiver<Value: Sendable>: Sendable {
        @usableFromInline let storage: OneshotStorage<Value>
        @inlinable init(_ storage: OneshotStorage<Value>) { self.storage = storage }
        deinit { storage.receiverGone() }

        /// The value, waiting for it.
        ///
        /// Cancel safety: a cancelled wait takes nothing; the value can still be awaited again.
        /// - Throws: ``OneshotError/senderDropped`` if the sender went away without sending;
        ///   `CancellationError` if the waiting task is cancelled (or the deadline of its
        ///   ``withDeadline(_:isolation:_:)`` scope passes).
        @inlinable public var value: Value {
            get async throws {
                switch await storage.wait() {
                case .success(let value): return value
                case .failure(.senderDropped): throw OneshotError.senderDropped
                case .failure(.cancelled): throw CancellationError()
                }
            }
        }

        /// Waits on a plain (non-runtime) thread.
        @inlinable public func blockingValue() throws(OneshotError) -> Value {
            precondition(!RuntimeThread.isRuntimeThread, "blockingValue on a Torus core would block it; use value")
            return try storage.blockingWait().get()
        }
    }
}

/// Why a oneshot receiver got no value.
public enum OneshotError: Error, Sendable, Equatable {
    /// The sender was deinitialised without sending.
    case senderDropped
}

@usableFromInline final class OneshotStorage<Value: Sendable>: Sendable {
    @usableFromInline enum Failure: Error { case senderDropped, cancelled }
    @usableFromInline typealias Outcome = Result<Value, Failure>
    @inlinable init() {}

    @usableFromInline struct State {
        @usableFromInline var outcome: Outcome?
        @usableFromInline var waiters = WaiterQueue<Resumable<Outcome>>()
        @usableFromInline var receiverGone = false
        @inlinable init() {}
    }

    @usableFromInline let state = Lock(State())

    @inlinable var isReceiverGone: Bool { state.withLock { $0.receiverGone } }

    @inlinable func receiverGone() { state.withLock { $0.receiverGone = true } }

    /// Records the outcome once; wakes the receiver. Returns whether this call set it.
    @discardableResult
    @inlinable func complete(_ outcome: Result<Value, OneshotError>) -> Bool {
        let mapped: Outcome = outcome.mapError { _ in .senderDropped }
        let (accepted, waiters) = state.withLock { state -> (Bool, [Resumable<Outcome>]) in
            guard state.outcome == nil else { return (false, []) }
            state.outcome = mapped
            return (!state.receiverGone, state.waiters.removeAll())
        }
        for waiter in waiters { waiter.resume(mapped) }
        return accepted
    }

    @inlinable func wait() async -> Outcome {
        if let ready = state.withLock({ $0.outcome }) { return ready }
        return await suspend(
            register: { waiter, setID in
                state.withLock { state -> Outcome? in
                    if let outcome = state.outcome { return outcome }
                    if isWaitCancelled { return .failure(.cancelled) }
                    setID(state.waiters.append(waiter))
                    return nil
                }
            },
            cancel: { [self] id in state.withLock { $0.waiters.remove(id: id) } },
            cancelledValue: .failure(.cancelled))
    }

    @inlinable func blockingWait() -> Result<Value, OneshotError> {
        let parker = ThreadParker<Outcome>()
        let immediate = state.withLock { state -> Outcome? in
            if let outcome = state.outcome { return outcome }
            _ = state.waiters.append(.thread(parker))
            return nil
        }
        let outcome = immediate ?? parker.park()
        return outcome.mapError { _ in .senderDropped }
    }

    /// The outcome if it is there, without waiting (for select).
    @usableFromInline func peek() -> Result<Value, OneshotError>? {
        state.withLock { $0.outcome }?.mapError { _ in .senderDropped }
    }

    /// Arms `signal` for a select: fired when the outcome is set.
    @usableFromInline func watch(_ signal: SelectSignal) -> UInt64? {
        let id = state.withLock { state -> UInt64? in
            if state.outcome != nil { return nil }
            return state.waiters.append(.select(signal))
        }
        if id == nil { signal.fire() }
        return id
    }

    @usableFromInline func unwatch(_ id: UInt64) {
        state.withLock { _ = $0.waiters.remove(id: id) }
    }
}
