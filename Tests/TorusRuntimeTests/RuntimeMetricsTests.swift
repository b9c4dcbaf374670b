import Foundation
import Synchronization
import Testing
import TorusTestSupport

@testable import Torus

extension RuntimeSuite {
    @Suite("Runtime metrics: per-core counters")
    struct RuntimeMetricsTests {
        /// What moved between two snapshots of one core.
        struct CoreDelta {
            let before: RuntimeMetrics.CoreMetrics
            let after: RuntimeMetrics.CoreMetrics
            func of(_ counter: KeyPath<RuntimeMetrics.CoreMetrics, UInt64>) -> UInt64 { after[keyPath: counter] &- before[keyPath: counter] }
        }

        @Test("a known workload moves each counter of the core that ran it by the expected amount")
        func knownWorkload() async throws {
            let spawned = 12
            let ringSleeps = 20
            let taskSleeps = 5
            let burst = 48
            let messages = 40
            let directory = try makeTemporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let path = directory + "/data"
            try Data(pseudoRandomBytes(3000, seed: 7)).write(to: URL(fileURLWithPath: path))

            // A 16-entry ring with 8 entries kept for cancels: a burst of 48 timers in one turn
            // must submit to make room several times.
            let runtime = try Runtime(RuntimeConfiguration(cores: .count(2), ringEntries: 16))
            defer { runtime.shutdown() }
            let worker = runtime.cores[1]
            try await Task.sleep(for: .milliseconds(20))
            let before = await runtime.handle.metrics()

            let bytesRead = try await runtime.handle.spawn(on: .core(1)) {
                // The task itself is one of `spawned`.
                var children: [JoinHandle<Void>] = []
                for _ in 1..<spawned { children.append(spawn(on: .current) {}) }
                for child in children { try await child.value }
                for _ in 0..<ringSleeps { try await sleep(for: .microseconds(10)) }
                for _ in 0..<taskSleeps { try await Task.sleep(for: .microseconds(10)) }
                await withTaskGroup(of: Void.self) { group in
                    for _ in 0..<burst { group.addTask { try? await sleep(for: .milliseconds(2)) } }
                }
                let file = try await File.open(FilePath(path))
                let buffer = IOBuffer(capacity: 4096)
                let count = try await file.read(into: buffer, maxLength: 4096)
                try await file.close()
                return count
            }.value
            #expect(bytesRead == 3000)

            // Cross-core messages to core 1 once it is parked: the first wakes it with MSG_RING.
            // Rounds until one did, in case the machine was too busy to let core 1 park.
            let received = CoreLocal(0)
            let wakesBefore = before.cores[1].wakeupsByMessageRing
            let rounds = try await runtime.handle.spawn(on: .core(0)) { () -> Int in
                var rounds = 0
                var woken = false
                while !woken && rounds < 10 {
                    rounds += 1
                    try await sleep(for: .milliseconds(20))
                    for _ in 0..<messages { worker.execute { received.value += 1 } }
                    // Behind the messages in core 1's mailbox, so they have all run when it ends.
                    let wakes = await worker.run { worker.statistics.wakeupsByMessageRing }
                    woken = wakes > wakesBefore || !worker.driver.canMessageRing
                }
                return rounds
            }.value
            #expect(received.value == messages * rounds)

            // A snapshot's own message finds core 1 parked and rings its eventfd doorbell.
            var after = before
            for _ in 0..<10 where after.cores[1].wakeupsByDoorbell == before.cores[1].wakeupsByDoorbell {
                try await Task.sleep(for: .milliseconds(20))
                after = await runtime.handle.metrics()
            }
            let core1 = CoreDelta(before: before.cores[1], after: after.cores[1])
            let timers = UInt64(ringSleeps + taskSleeps + burst)
            #expect(core1.of(\.tasksStarted) == UInt64(spawned))
            #expect(core1.of(\.timersArmed) == timers)
            #expect(core1.of(\.jobsRun) >= UInt64(spawned) + timers)
            #expect(core1.of(\.completions) >= timers + 3, "every timer, the open, the read and the close")
            #expect(core1.of(\.submissionQueueFullWaits) >= UInt64(burst / 8 - 1), "\(after.cores[1])")
            #expect(core1.of(\.mailboxMessages) >= UInt64(messages * rounds))
            #expect(core1.of(\.parks) >= 2)
            if worker.driver.canMessageRing {
                #expect(core1.of(\.wakeupsByMessageRing) >= 1, "\(after.cores[1])")
            }
            #expect(core1.of(\.wakeupsByDoorbell) >= 1, "\(after.cores[1])")
            #expect(after.cores[1].operationsInFlight == 0)
            #expect(after.cores[1].liveTasks == 0)
            // Core 0 ran one spawned task and a timer per round, and no burst.
            let core0 = CoreDelta(before: before.cores[0], after: after.cores[0])
            #expect(core0.of(\.tasksStarted) == 1)
            #expect(core0.of(\.timersArmed) == UInt64(rounds))
            #expect(core0.of(\.submissionQueueFullWaits) == 0)
            #expect(after.liveTasks == 0)
        }

        @Test("the blocking pool's threads and queue length, while its one thread is busy")
        func blockingPool() async throws {
            let runtime = try Runtime(RuntimeConfiguration(cores: .count(1), maxBlockingThreads: 1))
            defer { runtime.shutdown() }
            let gate = DispatchSemaphore(value: 0)
            let jobs = (0..<3).map { _ in
                runtime.handle.spawn { try await spawnBlocking { gate.wait() } }
            }
            var seen = await runtime.handle.metrics()
            // Until the pool's one thread has taken the first job (the queue holds 3 before).
            for _ in 0..<200 where !(seen.blockingQueueLength == 2 && seen.blockingThreads == 1 && seen.idleBlockingThreads == 0) {
                try await Task.sleep(for: .milliseconds(5))
                seen = await runtime.handle.metrics()
            }
            #expect(seen.blockingThreads == 1)
            #expect(seen.idleBlockingThreads == 0)
            #expect(seen.blockingQueueLength == 2, "\(seen)")
            #expect(seen.liveTasks == 3)
            for _ in jobs { gate.signal() }
            for job in jobs { try await job.value }
            let done = await runtime.handle.metrics()
            #expect(done.blockingQueueLength == 0)
            #expect(done.liveTasks == 0)
        }
    }
}
