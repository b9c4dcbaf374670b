import Foundation
import Synchronization
import Testing

@testable import TorusChannels

/// TorusChannels on plain Swift tasks (the global executor) and plain threads: no Torus runtime,
/// no io_uring. Deadlines and `select` timers then use sleeping tasks instead of ring timers,
/// and every cancel-safety promise the doc comments make must hold here too.
@Suite("Channels and synchronization without a ring")
struct ChannelsWithoutRingTests {
    @Test("no runtime thread here: timers come from sleeping tasks, blocking calls are allowed")
    func noRuntimeThread() {
        #expect(RuntimeThread.timers == nil)
        #expect(!RuntimeThread.isRuntimeThread)
    }

    @Test("bounded MPSC: every value once, in order, with backpressure at the capacity")
    func boundedOrderAndBackpressure() async throws {
        let (sender, receiver) = MPSC.bounded(Int.self, capacity: 2)
        try sender.trySend(1)
        try sender.trySend(2)
        do {
            try sender.trySend(3)
            Issue.record("a full channel took a third value")
        } catch .full(let value) {
            #expect(value == 3)
        } catch {
            Issue.record("unexpected \(error)")
        }
        let producer = Task {
            for value in 3...1000 { try await sender.send(value) }
            sender.finish()
        }
        var received: [Int] = []
        for await value in receiver { received.append(value) }
        try await producer.value
        #expect(received == Array(1...1000))
    }

    @Test("a cancelled receive takes nothing: the value sent afterwards is still there")
    func cancelledReceiveTakesNothing() async throws {
        let (sender, receiver) = MPSC.unbounded(String.self)
        let waiting = Task { try await receiver.receive() }
        try await Task.sleep(for: .milliseconds(20))
        waiting.cancel()
        await #expect(throws: CancellationError.self) { try await waiting.value }
        try sender.trySend("kept")
        guard case .value(let value) = receiver.tryReceive() else {
            Issue.record("the value was lost")
            return
        }
        #expect(value == "kept")
    }

    @Test("a cancelled send waiting for room hands its value back and enqueues nothing")
    func cancelledSendHandsValueBack() async throws {
        let (sender, receiver) = MPSC.bounded(Int.self, capacity: 1)
        try sender.trySend(1)
        let waiting = Task { () -> SendError<Int>? in
            do throws(SendError<Int>) {
                try await sender.send(2)
                return nil
            } catch {
                return error
            }
        }
        try await Task.sleep(for: .milliseconds(20))
        waiting.cancel()
        let error = await waiting.value
        #expect(error?.reason == .cancelled)
        #expect(error?.value == 2)
        #expect(receiver.count == 1)
        guard case .value(let first) = receiver.tryReceive(), first == 1 else {
            Issue.record("the first value is gone")
            return
        }
        guard case .empty = receiver.tryReceive() else {
            Issue.record("the cancelled send enqueued its value")
            return
        }
    }

    @Test("withTimeout off a core: a sleeping task fires the deadline; the value sent later is kept")
    func timeoutWithoutRing() async throws {
        let (sender, receiver) = MPSC.unbounded(Int.self)
        let start = ContinuousClock.now
        await #expect(throws: TimeoutError.self) {
            try await withTimeout(.milliseconds(50)) { try await receiver.receive() }
        }
        #expect(ContinuousClock.now - start >= .milliseconds(50))
        try sender.trySend(7)
        let value = try await withTimeout(.seconds(5)) { try await receiver.receive() }
        #expect(value == 7)
    }

    @Test("select off a core: the sleep branch wins when nothing arrives, and nothing is taken")
    func selectSleepWithoutRing() async throws {
        let (sender, receiver) = MPSC.unbounded(Int.self)
        enum Outcome: Equatable {
            case value(Int?)
            case tick
        }
        let first: Outcome = try await select(
            .receive(from: receiver) { Outcome.value($0) },
            .sleep(for: .milliseconds(30)) { Outcome.tick })
        #expect(first == .tick)
        try sender.trySend(42)
        let second: Outcome = try await select(
            .receive(from: receiver) { Outcome.value($0) },
            .sleep(for: .seconds(5)) { Outcome.tick })
        #expect(second == .value(42))
    }

    @Test("a cancelled token ends the wait inside run and returns nil; the channel keeps its value")
    func tokenEndsWait() async throws {
        let (sender, receiver) = MPSC.unbounded(Int.self)
        let token = CancellationToken()
        let waiting = Task { try await token.run { try await receiver.receive() } }
        try await Task.sleep(for: .milliseconds(20))
        token.cancel()
        let result = try await waiting.value
        #expect(result == nil)
        try sender.trySend(5)
        guard case .value(let kept) = receiver.tryReceive(), kept == 5 else {
            Issue.record("the value was lost")
            return
        }
    }

    @Test("oneshot: the value arrives; a dropped sender is reported")
    func oneshot() async throws {
        let (sender, receiver) = Oneshot.channel(Int.self)
        #expect(sender.send(9))
        #expect(try await receiver.value == 9)
        var (dropped, orphan): (Oneshot.Sender<Int>?, Oneshot.Receiver<Int>) = Oneshot.channel(Int.self)
        #expect(dropped != nil)
        dropped = nil
        await #expect(throws: OneshotError.senderDropped) { try await orphan.value }
    }

    @Test("broadcast: a slow receiver is told how much it missed and continues with the oldest kept")
    func broadcastLag() async throws {
        let sender = Broadcast.Sender<Int>(capacity: 2)
        let receiver = sender.subscribe()
        for value in 1...5 { _ = sender.send(value) }
        await #expect(throws: BroadcastError.lagged(3)) { try await receiver.receive() }
        #expect(try await receiver.receive() == 4)
        #expect(try await receiver.receive() == 5)
        sender.close()
        await #expect(throws: BroadcastError.closed) { try await receiver.receive() }
    }

    @Test("watch: changed() waits for a new value and the receiver sees the latest")
    func watch() async throws {
        let (sender, receiver) = Watch.channel(0)
        let waiter = Task {
            try await receiver.changed()
            return receiver.current
        }
        try await Task.sleep(for: .milliseconds(20))
        sender.send(1)
        sender.send(2)
        let seen = try await waiter.value
        #expect(seen == 2 || seen == 1)
        #expect(receiver.current == 2)
    }

    @Test("AsyncMutex, AsyncSemaphore, Notify and Barrier on plain tasks")
    func synchronization() async throws {
        let mutex = AsyncMutex(0)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<50 {
                group.addTask { try await mutex.withLock { $0 += 1 } }
            }
            try await group.waitForAll()
        }
        #expect(try await mutex.withLock { $0 } == 50)

        let semaphore = AsyncSemaphore(permits: 2)
        let occupancy = Occupancy()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<8 {
                group.addTask {
                    try await semaphore.withPermits {
                        occupancy.enter()
                        try await Task.sleep(for: .milliseconds(5))
                        occupancy.leave()
                    }
                }
            }
            try await group.waitForAll()
        }
        #expect(occupancy.most.load(ordering: .relaxed) <= 2)
        #expect(semaphore.availablePermits == 2)

        let notify = Notify()
        let notified = Task { try await notify.notified() }
        try await Task.sleep(for: .milliseconds(10))
        notify.notifyOne()
        try await notified.value

        let barrier = Barrier(count: 3)
        let leaders = await withTaskGroup(of: Bool.self) { group in
            for _ in 0..<3 { group.addTask { await barrier.wait() } }
            var count = 0
            for await isLeader in group where isLeader { count += 1 }
            return count
        }
        #expect(leaders == 1)
    }

    @Test("plain threads: blockingSend and blockingReceive hand every value over")
    func blockingCallsOnThreads() async throws {
        let (sender, receiver) = MPSC.bounded(Int.self, capacity: 4)
        // Threads of their own: blocking the cooperative pool's two threads could deadlock it.
        let received = Received()
        let producer = Thread {
            for value in 0..<200 { try? sender.blockingSend(value) }
            sender.finish()
        }
        let consumer = Thread {
            while let value = receiver.blockingReceive() { received.values.withLock { $0.append(value) } }
        }
        producer.start()
        consumer.start()
        while !(producer.isFinished && consumer.isFinished) { try await Task.sleep(for: .milliseconds(5)) }
        #expect(received.values.withLock { $0 } == Array(0..<200))
    }
}

/// How many tasks are inside a region at once, and the most there ever were.
private final class Occupancy: Sendable {
    let inside = Atomic<Int>(0)
    let most = Atomic<Int>(0)
    func enter() { most.max(inside.add(1, ordering: .relaxed).newValue, ordering: .relaxed) }
    func leave() { inside.subtract(1, ordering: .relaxed) }
}

/// Values a consumer thread collected.
private final class Received: Sendable {
    let values = Mutex<[Int]>([])
}
