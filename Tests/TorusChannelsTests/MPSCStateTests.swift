import Testing

@testable import TorusChannels

/// The MPSC channel's state machine on its own: no lock taken, no task, no thread. Waiters are
/// thread parkers and select signals whose slots the tests read back, so every transition (a
/// value queued, handed over, refused, a blocked sender refilled, watchers woken) is checked
/// step by step and deterministically.
@Suite("MPSC state machine, without threads")
struct MPSCStateTests {
    typealias Storage = MPSCStorage<Int>

    @Test("a bounded queue takes values up to its capacity, then says full; takes come out in order")
    func capacityAndOrder() {
        var state = Storage.State(capacity: 2)
        guard case .queued(let watchers) = state.deliver(1), watchers.isEmpty else {
            Issue.record("1 not queued")
            return
        }
        guard case .queued = state.deliver(2) else {
            Issue.record("2 not queued")
            return
        }
        guard case .full = state.deliver(3) else {
            Issue.record("a third value was accepted")
            return
        }
        #expect(!state.hasRoom && state.canReceive && !state.canSend)
        #expect(state.take()?.value == 1)
        #expect(state.hasRoom)
        #expect(state.take()?.value == 2)
        #expect(state.take() == nil)
        #expect(!state.canReceive)
    }

    @Test("a waiting receiver is handed the value directly; nothing is queued")
    func handoffToWaitingReceiver() {
        var state = Storage.State(capacity: 1)
        let parker = ThreadParker<Storage.ReceiveOutcome>()
        _ = state.receivers.append(.thread(parker))
        let result = state.deliver(5)
        guard case .handedTo = result else {
            Issue.record("not handed over: \(result)")
            return
        }
        #expect(state.queue.isEmpty)
        result.wake(with: 5)
        guard case .value(5)? = parker.lock.withLock({ $0 }) else {
            Issue.record("the receiver did not get 5")
            return
        }
    }

    @Test("a take refills the queue from the oldest blocked sender and wakes it with .sent")
    func takeRefillsFromBlockedSender() {
        var state = Storage.State(capacity: 1)
        _ = state.deliver(1)
        let first = ThreadParker<Storage.SendOutcome>()
        let second = ThreadParker<Storage.SendOutcome>()
        _ = state.blockedSenders.append((value: 2, waiter: .thread(first)))
        _ = state.blockedSenders.append((value: 3, waiter: .thread(second)))
        guard let taken = state.take() else {
            Issue.record("nothing taken")
            return
        }
        #expect(taken.value == 1)
        #expect(Array(state.queue.removeAll()) == [2])
        taken.wakeSenders()
        guard case .sent? = first.lock.withLock({ $0 }) else {
            Issue.record("the oldest sender was not woken")
            return
        }
        #expect(second.lock.withLock { $0 } == nil)
    }

    @Test("a cancelled waiter taken out by id is skipped; the others keep their order")
    func cancelledWaiterIsSkipped() {
        var queue = WaiterQueue<Int>()
        _ = queue.append(10)
        let cancelled = queue.append(20)
        _ = queue.append(30)
        #expect(queue.remove(id: cancelled) == 20)
        #expect(queue.remove(id: cancelled) == nil)  // a second cancel finds nothing
        #expect(queue.removeFirst() == 10)
        #expect(queue.removeFirst() == 30)
        #expect(queue.removeFirst() == nil)
    }

    @Test("a closed channel or a gone receiver refuses values; a closed one still drains")
    func closedAndGone() {
        var state = Storage.State(capacity: nil)
        _ = state.deliver(1)
        state.closed = true
        guard case .closed = state.deliver(2) else {
            Issue.record("a closed channel took a value")
            return
        }
        #expect(state.canReceive && state.canSend)  // the queued value, then the end; a send fails at once
        #expect(state.take()?.value == 1)
        #expect(state.noMoreValues && state.canReceive)

        var gone = Storage.State(capacity: nil)
        gone.receiverAlive = false
        guard case .closed = gone.deliver(1) else {
            Issue.record("a value went to a gone receiver")
            return
        }
    }

    @Test("selects watching for a value are woken by a queued value; those watching for room by a take")
    func watchersAreWoken() {
        var state = Storage.State(capacity: 1)
        let receiveWatcher = SelectSignal()
        _ = state.receiveWatchers.append(receiveWatcher)
        let result = state.deliver(1)
        guard case .queued(let watchers) = result, watchers.count == 1 else {
            Issue.record("watcher not returned")
            return
        }
        result.wake(with: 1)
        guard case .fired = receiveWatcher.state.withLock({ $0 }) else {
            Issue.record("receive watcher not fired")
            return
        }

        let roomWatcher = SelectSignal()
        _ = state.sendWatchers.append(roomWatcher)
        guard let taken = state.take(), taken.roomWatchers.count == 1 else {
            Issue.record("room watcher not returned")
            return
        }
        taken.wakeSenders()
        guard case .fired = roomWatcher.state.withLock({ $0 }) else {
            Issue.record("room watcher not fired")
            return
        }
        #expect(state.sendWatchers.isEmpty && state.receiveWatchers.isEmpty)
    }
}
