import Synchronization

/// The shared state of an MPSC channel: a queue and the waiters on either side, under one
/// lock. Waiters are resumed after the lock is released.
@usableFromInline final class MPSCStorage<Value: Sendable>: Sendable {
    @usableFromInline enum SendOutcome: Sendable { case sent, closed, cancelled }

    @usableFromInline struct State {
        @usableFromInline let capacity: Int?
        @inlinable init(capacity: Int?) { self.capacity = capacity }
        @usableFromInline var queue = RingBuffer<Value>()
        @usableFromInline var senders = 1
        @usableFromInline var receiverAlive = true
        @usableFromInline var closed = false
        @usableFromInline var receivers = WaiterQueue<Resumable<Value?>>()
        @usableFromInline var blockedSenders = WaiterQueue<(value: Value, waiter: Resumable<SendOutcome>)>()

        @inlinable var acceptsSends: Bool { receiverAlive && !closed }
        @inlinable var hasRoom: Bool { capacity.map { queue.count < $0 } ?? true }

        /// Tries to deliver `value` without waiting: straight to a waiting receiver, or into the
        /// queue. Returns the receiver to resume, or nil when queued; throws when full/closed.
        @inlinable mutating func deliver(_ value: Value) -> DeliverResult {
            guard acceptsSends else { return .closed }
            if let receiver = receivers.removeFirst() { return .handedTo(receiver) }
            if hasRoom {
                queue.append(value)
                return .queued
            }
            return .full
        }

        /// Takes the next value, refilling the queue from the oldest blocked sender.
        @inlinable mutating func take() -> (Value, Resumable<SendOutcome>?)? {
            if let value = queue.popFirst() {
                if let blocked = blockedSenders.removeFirst() {
                    queue.append(blocked.value)
                    return (value, blocked.waiter)
                }
                return (value, nil)
            }
            return nil
        }

        /// Nothing more will be sent: every sender is gone or the receiver closed the channel.
        @inlinable var noMoreValues: Bool { senders == 0 || closed }
    }

    @usableFromInline enum DeliverResult {
        case handedTo(Resumable<Value?>)
        case queued
        case full
        case closed
    }

    @usableFromInline let state: Lock<State>

    @inlinable init(capacity: Int?) {
        state = Lock(State(capacity: capacity))
    }

    // MARK: senders

    @inlinable func senderAdded() { state.withLock { $0.senders += 1 } }

    @inlinable func senderGone() {
        let receivers = state.withLock { state -> [Resumable<Value?>] in
            state.senders -= 1
            return state.senders == 0 ? state.receivers.removeAll() : []
        }
        for receiver in receivers { receiver.resume(nil) }
    }

    @inlinable var isClosedForSenders: Bool { state.withLock { !$0.acceptsSends } }

    @inlinable func trySend(_ value: Value) throws(TrySendError<Value>) {
        switch state.withLock({ $0.deliver(value) }) {
        case .handedTo(let receiver): receiver.resume(value)
        case .queued: return
        case .full: throw .full(value)
        case .closed: throw .closed(value)
        }
    }

    @inlinable func send(_ value: Value) async throws(SendError<Value>) {
        switch state.withLock({ $0.deliver(value) }) {
        case .handedTo(let receiver):
            receiver.resume(value)
            return
        case .queued:
            return
        case .closed:
            throw SendError(reason: .closed, value: value)
        case .full:
            break
        }
        // Full: wait in line. The id is taken under the same lock that registers the waiter,
        // so a cancellation either finds the waiter or sees it was never registered.
        let id = Lock<UInt64?>(nil)
        let outcome: SendOutcome = await withTaskCancellationHandler {
            await withUnsafeContinuation { (continuation: UnsafeContinuation<SendOutcome, Never>) in
                let immediate = state.withLock { state -> (SendOutcome, Resumable<Value?>?)? in
                    if Task.isCancelled { return (.cancelled, nil) }
                    switch state.deliver(value) {
                    case .handedTo(let receiver): return (.sent, receiver)
                    case .queued: return (.sent, nil)
                    case .closed: return (.closed, nil)
                    case .full:
                        let waiterID = state.blockedSenders.append((value, .task(continuation)))
                        id.withLock { $0 = waiterID }
                        return nil
                    }
                }
                if let (outcome, receiver) = immediate {
                    receiver?.resume(value)
                    continuation.resume(returning: outcome)
                }
            }
        } onCancel: {
            let removed = state.withLock { state -> Resumable<SendOutcome>? in
                guard let waiterID = id.withLock({ $0 }) else { return nil }
                return state.blockedSenders.remove(id: waiterID)?.waiter
            }
            removed?.resume(.cancelled)
        }
        switch outcome {
        case .sent: return
        case .closed: throw SendError(reason: .closed, value: value)
        case .cancelled: throw SendError(reason: .cancelled, value: value)
        }
    }

    @inlinable func blockingSend(_ value: Value) throws(SendError<Value>) {
        let parker = ThreadParker<SendOutcome>()
        let immediate = state.withLock { state -> (SendOutcome, Resumable<Value?>?)? in
            switch state.deliver(value) {
            case .handedTo(let receiver): return (.sent, receiver)
            case .queued: return (.sent, nil)
            case .closed: return (.closed, nil)
            case .full:
                _ = state.blockedSenders.append((value, .thread(parker)))
                return nil
            }
        }
        let outcome: SendOutcome
        if let (result, receiver) = immediate {
            receiver?.resume(value)
            outcome = result
        } else {
            outcome = parker.park()
        }
        if outcome != .sent { throw SendError(reason: outcome == .closed ? .closed : .cancelled, value: value) }
    }

    // MARK: receiver

    @inlinable func receiverGone() {
        let blocked = state.withLock { state -> [(value: Value, waiter: Resumable<SendOutcome>)] in
            state.receiverAlive = false
            _ = state.queue.removeAll()
            return state.blockedSenders.removeAll()
        }
        for sender in blocked { sender.waiter.resume(.closed) }
    }

    @inlinable func close() {
        let blocked = state.withLock { state -> [(value: Value, waiter: Resumable<SendOutcome>)] in
            state.closed = true
            return state.blockedSenders.removeAll()
        }
        for sender in blocked { sender.waiter.resume(.closed) }
    }

    @inlinable var count: Int { state.withLock { $0.queue.count } }

    @inlinable func tryReceive() -> TryReceiveResult<Value> {
        let (result, refilled) = state.withLock { state -> (TryReceiveResult<Value>, Resumable<SendOutcome>?) in
            if let (value, sender) = state.take() { return (.value(value), sender) }
            return (state.noMoreValues ? .closed : .empty, nil)
        }
        refilled?.resume(.sent)
        return result
    }

    @inlinable func receive() async -> Value? {
        // Fast path: something is queued.
        let fast = state.withLock { state -> (Value?, Resumable<SendOutcome>?, Bool) in
            if let (value, sender) = state.take() { return (value, sender, true) }
            return (nil, nil, state.noMoreValues)
        }
        if let value = fast.0 {
            fast.1?.resume(.sent)
            return value
        }
        if fast.2 { return nil }

        let id = Lock<UInt64?>(nil)
        return await withTaskCancellationHandler {
            await withUnsafeContinuation { (continuation: UnsafeContinuation<Value?, Never>) in
                let immediate = state.withLock { state -> (Value?, Resumable<SendOutcome>?)? in
                    if let (value, sender) = state.take() { return (value, sender) }
                    if state.noMoreValues || Task.isCancelled { return (nil, nil) }
                    let waiterID = state.receivers.append(.task(continuation))
                    id.withLock { $0 = waiterID }
                    return nil
                }
                if let (value, sender) = immediate {
                    sender?.resume(.sent)
                    continuation.resume(returning: value)
                }
            }
        } onCancel: {
            let removed = state.withLock { state -> Resumable<Value?>? in
                guard let waiterID = id.withLock({ $0 }) else { return nil }
                return state.receivers.remove(id: waiterID)
            }
            removed?.resume(nil)
        }
    }

    @inlinable func blockingReceive() -> Value? {
        let parker = ThreadParker<Value?>()
        let immediate = state.withLock { state -> (Value?, Resumable<SendOutcome>?)? in
            if let (value, sender) = state.take() { return (value, sender) }
            if state.noMoreValues { return (nil, nil) }
            _ = state.receivers.append(.thread(parker))
            return nil
        }
        if let (value, sender) = immediate {
            sender?.resume(.sent)
            return value
        }
        return parker.park()
    }
}
