import Foundation
import Synchronization
import Testing
import TorusTestSupport

@testable import Torus
@testable import TorusChannels

extension RuntimeSuite {
    @Suite("Async synchronization")
    struct SyncPrimitives {
        @Test("AsyncMutex: held across awaits, FIFO, consistent under 1,000 tasks on two cores")
        func mutex() async throws {
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            let (total, order) = try await runtime.handle.spawn(on: .core(0)) { () -> (Int, [Int]) in
                let counter = AsyncMutex(0)
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for index in 0..<1000 {
                        group.addTask {
                            try await spawn(on: .core(index % 2)) {
                                try await counter.withLock { value in
                                    let seen = value
                                    if index % 50 == 0 { try await sleep(for: .microseconds(50)) }
                                    value = seen + 1  // lost updates would show if two held it
                                }
                            }.value
                        }
                    }
                    try await group.waitForAll()
                }
                // FIFO: waiters queued in order 0, 1, 2 get the lock in that order.
                let log = AsyncMutex([Int]())
                let gate = AsyncMutex(())
                try await gate.lock()
                var handles: [JoinHandle<Void>] = []
                for index in 0..<3 {
                    handles.append(
                        spawn {
                            try await gate.withLock { _ in try await log.withLock { $0.append(index) } }
                        })
                    try await sleep(for: .milliseconds(1))
                }
                gate.unlock()
                for handle in handles { try await handle.value }
                return (try await counter.withLock { $0 }, try await log.withLock { $0 })
            }.value
            #expect(total == 1000)
            #expect(order == [0, 1, 2])
        }

        @Test("AsyncMutex: a cancelled waiter leaves the queue and the lock stays usable")
        func mutexCancellation() async throws {
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            let outcome = try await runtime.handle.spawn { () -> [String] in
                let mutex = AsyncMutex(0)
                try await mutex.lock()
                let waiter = spawn { try await mutex.withLock { $0 += 1 } }
                try await sleep(for: .milliseconds(2))
                waiter.cancel()
                var log: [String] = []
                do { try await waiter.value } catch is CancellationError { log.append("cancelled") }
                mutex.unlock()
                try await mutex.withLock { $0 += 10 }
                log.append("value \(try await mutex.withLock { $0 })")
                log.append("locked \(mutex.isLocked)")
                return log
            }.value
            #expect(outcome == ["cancelled", "value 10", "locked false"])
        }

        @Test("AsyncSemaphore: several permits, FIFO, returned on release, deinit and cancellation")
        func semaphore() async throws {
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            let log = try await runtime.handle.spawn { () -> [String] in
                let semaphore = AsyncSemaphore(permits: 3)
                var log: [String] = []
                let two = try await semaphore.acquire(2)
                log.append("available \(semaphore.availablePermits)")
                // A waiter for 2 blocks one for 1 behind it (fairness).
                let big = spawn { () -> String in
                    let permit = try await semaphore.acquire(2)
                    permit.release()
                    return "big"
                }
                try await sleep(for: .milliseconds(1))
                log.append("small try \(semaphore.tryAcquire(1) == nil ? "refused" : "granted")")
                let cancelled = spawn { _ = try await semaphore.acquire(3) }
                try await sleep(for: .milliseconds(1))
                cancelled.cancel()
                do { try await cancelled.value } catch is CancellationError { log.append("cancelled waiter") }
                two.release()
                log.append(try await big.value)
                do {
                    let scoped = try await semaphore.acquire(3)
                    _ = scoped  // released by deinit at the end of this scope
                }
                log.append("available \(semaphore.availablePermits)")
                return log
            }.value
            #expect(log == ["available 1", "small try refused", "cancelled waiter", "big", "available 3"])
        }

        @Test("Notify: a notification before the wait is kept; notifyAll wakes everyone waiting")
        func notify() async throws {
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            let log = try await runtime.handle.spawn { () -> [String] in
                let notify = Notify()
                var log: [String] = []
                notify.notifyOne()
                notify.notifyOne()  // at most one permit is stored
                try await notify.notified()
                log.append("permit consumed")
                let waiter = spawn { try await notify.notified() }
                try await sleep(for: .milliseconds(2))
                waiter.cancel()
                do { try await waiter.value } catch is CancellationError { log.append("cancelled") }
                let woken = SharedCounter()
                let all = (0..<5).map { index in
                    spawn(on: .core(index % 2)) {
                        try await notify.notified()
                        woken.increment()
                    }
                }
                try await sleep(for: .milliseconds(5))
                notify.notifyAll()
                for handle in all { try await handle.value }
                log.append("woken \(woken.value)")
                return log
            }.value
            #expect(log == ["permit consumed", "cancelled", "woken 5"])
        }

        @Test("Barrier: everyone waits for the last, exactly one leader per generation")
        func barrier() async throws {
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            let leaders = try await runtime.handle.spawn { () -> [Int] in
                let barrier = Barrier(count: 4)
                var leadersPerRound: [Int] = []
                for _ in 0..<3 {
                    let handles = (0..<4).map { index in spawn(on: .core(index % 2)) { await barrier.wait() } }
                    var count = 0
                    for handle in handles where try await handle.value { count += 1 }
                    leadersPerRound.append(count)
                }
                return leadersPerRound
            }.value
            #expect(leaders == [1, 1, 1])
        }

        @Test("select returns the first ready branch and cancels a losing operation in the kernel; join returns all")
        func selectAndJoin() async throws {
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            let (winner, loserCancelled, joined, inFlight) = try await runtime.handle.spawn(on: .core(0)) { () -> (Int, Bool, [Int], Int) in
                let loserSawCancel = SharedFlag()
                let (tx, rx) = MPSC.unbounded(Int.self)
                spawn {
                    try await sleep(for: .milliseconds(5))
                    try await tx.send(99)
                }
                let outcome: Int = try await select(
                    .operation({ () -> Int in
                        do { try await sleep(for: .seconds(10)) } catch {
                            loserSawCancel.set()
                            throw error
                        }
                        return -1
                    }) { $0 },
                    .receive(from: rx) { 1000 + ($0 ?? -2) }
                )
                let (a, b) = try await join(
                    { () -> Int in
                        try await sleep(for: .milliseconds(2))
                        return 1
                    }, { 2 })
                let (c, d, e) = try await join({ 3 }, { 4 }, { 5 })
                let core = Core.current!
                return (outcome, loserSawCancel.isSet, [a, b, c, d, e], core.driver.operations.inFlight)
            }.value
            #expect(winner == 1099)
            #expect(loserCancelled)
            #expect(joined == [1, 2, 3, 4, 5])
            #expect(inFlight == 0, "the losing sleep was cancelled in the kernel")
        }
    }
}
