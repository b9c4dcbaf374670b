import Synchronization

/// The shared state of an MPSC channel: a queue, the waiters on either side, and the selects
/// watching either side, under one lock. Waiters are resumed after the lock is released.
@usableFromInline final class MPSCStorage<Value: Sendable>: Sendable {
    @usableFromInline enum SendOutcome: Sendable { case sent, closed, cancelled }
    @usableFromInline enum ReceiveOutcome: Sendable {
        case value(Value)
        case closed, cancelled
    }

    @usableFromInline struct State {
        @usableFromInline let capacity: Int?
        @inlinable init(capacity: Int?) { self.capacity = capacity }
        @usableFromInline var queue = RingBuffer<Value>()
        @usableFromInline var senders = 1
        @usableFromInline var receiverAlive = true
        @usableFromInline var closed = false
        @usableFromInline var receivers = WaiterQueue<Resumable<ReceiveOutcome>>()
        @usableFromInline var blockedSenders = WaiterQueue<(value: Value, waiter: Resumable<SendOutcome>)>()
        /// Selects waiting for a value (or the end) to receive. Signalled, never handed a value.
        @usableFromInline var receiveWatchers = WaiterQueue<SelectSignal>()
        /// Selects waiting for room to send.
        @usableFromInline var sendWatchers = WaiterQueue<SelectSignal>()

        @inlinable var acceptsSends: Bool { receiverAlive && !closed }
        @inlinable var hasRoom: Bool { capacity.map { queue.count < $0 } ?? true }
        /// A receive would complete now: a value is queued or none will ever come.
        @inlinable var canReceive: Bool { !queue.isEmpty || noMoreValues }
        /// A send would complete now: there is room, or the channel refuses sends.
        @inlinable var canSend: Bool { !acceptsSends || hasRoom }

        /// Tries to deliver `value` without waiting: straight to a waiting receiver, or into the
        /// queue (waking the selects watching for a value).
        @inlinable mutating func deliver(_ value: Value) -> DeliverResult {
            guard acceptsSends else { return .closed }
            if let receiver = receivers.removeFirst() { return .handedTo(receiver) }
            if hasRoom {
                queue.append(value)
                return .queued(receiveWatchers.isEmpty ? [] : receiveWatchers.removeAll())
            }
            return .full
        }

        /// Takes the next value, refilling the queue from the oldest blocked sender, or else
        /// waking the selects watching for room.
        @inlinable mutating func take() -> Taken? {
            guard let value = queue.popFirst() else { return nil }
            if let blocked = blockedSenders.removeFirst() {
                queue.append(blocked.value)
                return Taken(value: value, refilledSender: blocked.waiter, roomWatchers: [])
            }
            return Taken(value: value, refilledSender: nil, roomWatchers: sendWatchers.isEmpty ? [] : sendWatchers.removeAll())
        }

        /// Nothing more will be sent: every sender is gone or the receiver closed the channel.
        @inlinable var noMoreValues: Bool { senders == 0 || closed }
    }

    @usableFromInline struct Taken {
        @usableFromInline var value: Value
        @usableFromInline var refilledSender: Resumable<SendOutcome>?
        @usableFromInline var roomWatchers: [SelectSignal]
        @inlinable init(value: Value, refilledSender: Resumable<SendOutcome>?, roomWatchers: [SelectSignal]) {
            self.value = value
            self.refilledSender = refilledSender
            self.roomWatchers = roomWatchers
        }

        /// Wakes whoever the take made room for; call after the lock is released.
        @inlinable func wakeSenders() {
            refilledSender?.resume(.sent)
            for watcher in roomWatchers { watcher.fire() }
        }
    }

    @usableFromInline enum DeliverResult {
        case handedTo(Resumable<ReceiveOutcome>)
        case queued([SelectSignal])
        case full
        case closed

        /// Completes a delivery after the lock is released.
        @inlinable func wake(with value: Value) {
            switch self {
            case .handedTo(let receiver): receiver.resume(.value(value))
            case .queued(let watchers): for watcher in watchers { watcher.fire() }
            case .full, .closed: break
            }
        }
    }

    @usableFromInline let state: Lock<State>

    @inlinable init(capacity: Int?) {
        state = Lock(State(capacity: capacity))
    }

    // MARK: senders

    @inlinable func senderAdded() { state.withLock { $0.senders += 1 } }

    @inlinable func senderGone() {
        let (receivers, watchers) = state.withLock { state -> ([Resumable<ReceiveOutcome>], [SelectSignal]) in
            state.senders -= 1
            guard state.senders == 0 else { return ([], []) }
            return (state.receivers.removeAll(), state.receiveWatchers.removeAll())
        }
        for receiver in receivers { receiver.resume(.closed) }
        for watcher in watchers { watcher.fire() }
    }

    @inlinable var isClosedForSenders: Bool { state.withLock { !$0.acceptsSends } }

    @inlinable func trySend(_ value: Value) throws(TrySendError<Value>) {
        let result = state.withLock { $0.deliver(value) }
        result.wake(with: value)
        switch result {
        case .handedTo, .queued: return
        case .full: throw .full(value)
        case .closed: throw .closed(value)
        }
    }

    @inlinable func send(_ value: Value) async throws(SendError<Value>) {
        let result = state.withLock { $0.deliver(value) }
        result.wake(with: value)
        switch result {
        case .handedTo, .queued: return
        case .closed: throw SendError(reason: .closed, value: value)
        case .full: break
        }
        // Full: wait in line. A cancelled (or timed-out) wait takes the value back out of the
        // line under the lock, so it is either enqueued exactly once or handed back.
        let outcome = await suspend(
            register: { waiter, setID in
                let (immediate, delivered) = state.withLock { state -> (SendOutcome?, DeliverResult?) in
                    if isWaitCancelled { return (.cancelled, nil) }
                    let result = state.deliver(value)
                    switch result {
                    case .handedTo, .queued: return (.sent, result)
                    case .closed: return (.closed, nil)
                    case .full:
                        setID(state.blockedSenders.append((value, waiter)))
                        return (nil, nil)
                    }
                }
                delivered?.wake(with: value)
                return immediate
            },
            cancel: { [self] id in state.withLock { $0.blockedSenders.remove(id: id)?.waiter } },
            cancelledValue: SendOutcome.cancelled)
        switch outcome {
        case .sent: return
        case .closed: throw SendError(reason: .closed, value: value)
        case .cancelled: throw SendError(reason: .cancelled, value: value)
        }
    }

    @inlinable func blockingSend(_ value: Value) throws(SendError<Value>) {
        let parker = ThreadParker<SendOutcome>()
        let (immediate, delivered) = state.withLock { state -> (SendOutcome?, DeliverResult?) in
            let result = state.deliver(value)
            switch result {
            case .handedTo, .queued: return (.sent, result)
            case .closed: return (.closed, nil)
            case .full:
                _ = state.blockedSenders.append((value, .thread(parker)))
                return (nil, nil)
            }
        }
        delivered?.wake(with: value)
        let outcome = immediate ?? parker.park()
        if outcome != .sent { throw SendError(reason: outcome == .closed ? .closed : .cancelled, value: value) }
    }

    // MARK: receiver

    @inlinable func receiverGone() {
        let (blocked, watchers) = state.withLock { state -> ([(value: Value, waiter: Resumable<SendOutcome>)], [SelectSignal]) in
            state.receiverAlive = false
            _ = state.queue.removeAll()
            return (state.blockedSenders.removeAll(), state.sendWatchers.removeAll())
        }
        for sender in blocked { sender.waiter.resume(.closed) }
        for watcher in watchers { watcher.fire() }
    }

    @inlinable func close() {
        let (blocked, watchers) = state.withLock { state -> ([(value: Value, waiter: Resumable<SendOutcome>)], [SelectSignal]) in
            state.closed = true
            return (state.blockedSenders.removeAll(), state.sendWatchers.removeAll() + state.receiveWatchers.removeAll())
        }
        for sender in blocked { sender.waiter.resume(.closed) }
        for watcher in watchers { watcher.fire() }
    }

    @inlinable var count: Int { state.withLock { $0.queue.count } }

    @inlinable func tryReceive() -> TryReceiveResult<Value> {
        let (result, taken) = state.withLock { state -> (TryReceiveResult<Value>, Taken?) in
            if let taken = state.take() { return (.value(taken.value), taken) }
            return (state.noMoreValues ? .closed : .empty, nil)
        }
        taken?.wakeSenders()
        return result
    }

    /// The next value; nil when the channel is closed and drained.
    /// - Throws: `CancellationError` when the task is cancelled (or its deadline passes) before
    ///   a value was handed over; nothing is taken then.
    @inlinable func receive() async throws(CancellationError) -> Value? {
        // Fast path: something is queued.
        let fast = state.withLock { state -> (Taken?, Bool) in
            if let taken = state.take() { return (taken, true) }
            return (nil, state.noMoreValues)
        }
        if let taken = fast.0 {
            taken.wakeSenders()
            return taken.value
        }
        if fast.1 { return nil }

        let outcome = await suspend(
            register: { waiter, setID in
                let (immediate, taken) = state.withLock { state -> (ReceiveOutcome?, Taken?) in
                    if let taken = state.take() { return (.value(taken.value), taken) }
                    if state.noMoreValues { return (.closed, nil) }
                    if isWaitCancelled { return (.cancelled, nil) }
                    setID(state.receivers.append(waiter))
                    return (nil, nil)
                }
                taken?.wakeSenders()
                return immediate
            },
            cancel: { [self] id in state.withLock { $0.receivers.remove(id: id) } },
            cancelledValue: ReceiveOutcome.cancelled)
        switch outcome {
        case .value(let value): return value
        case .closed: return nil
        case .cancelled: throw CancellationError()
        }
    }

    @inlinable func blockingReceive() -> Value? {
        let parker = ThreadParker<ReceiveOutcome>()
        let (immediate, taken) = state.withLock { state -> (ReceiveOutcome?, Taken?) in
            if let taken = state.take() { return (.value(taken.value), taken) }
            if state.noMoreValues { return (.closed, nil) }
            _ = state.receivers.append(.thread(parker))
            return (nil, nil)
        }
        taken?.wakeSenders()
        switch immediate ?? parker.park() {
        case .value(let value): return value
        case .closed, .cancelled: return nil
        }
    }

    // MARK: select

    /// Arms `signal` to fire when a receive could complete (at once if it can now). Returns the
    /// id to disarm with.
    @usableFromInline func watchReceive(_ signal: SelectSignal) -> UInt64? {
        // Checked under the same lock as the append, so a value delivered in between either is
        // seen here or wakes the watcher.
        let id = state.withLock { state -> UInt64? in
            if state.canReceive { return nil }
            return state.receiveWatchers.append(signal)
        }
        if id == nil { signal.fire() }
        return id
    }

    @usableFromInline func unwatchReceive(_ id: UInt64) {
        state.withLock { _ = $0.receiveWatchers.remove(id: id) }
    }

    /// Arms `signal` to fire when a send could complete (at once if it can now).
    @usableFromInline func watchSend(_ signal: SelectSignal) -> UInt64? {
        let id = state.withLock { state -> UInt64? in
            if state.canSend { return nil }
            return state.sendWatchers.append(signal)
        }
        if id == nil { signal.fire() }
        return id
    }

    @usableFromInline func unwatchSend(_ id: UInt64) {
        state.withLock { _ = $0.sendWatchers.remove(id: id) }
    }
}
