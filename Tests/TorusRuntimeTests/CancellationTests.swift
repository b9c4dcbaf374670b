import Foundation
import Synchronization
import Testing
import TorusTestSupport

@testable import Torus

extension RuntimeSuite {
    @Suite("Cancellation")
    struct Cancellation {
        /// Operations in flight on `core` (read on the core itself).
        static func inFlight(_ core: Core) async -> Int {
            await core.run { core.driver.operations.inFlight }
        }

        @Test("cancelling from another thread cancels the pending ring operation at once")
        func cancelFromOutside() async throws {
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            let core = runtime.cores[0]
            let sleeper = runtime.handle.spawn(on: .core(0)) { try await sleep(for: .seconds(30)) }
            while await Self.inFlight(core) == 0 { try await Task.sleep(for: .milliseconds(1)) }
            let took = await elapsed {
                sleeper.cancel()
                await #expect(throws: CancellationError.self) { try await sleeper.value }
            }
            #expect(took < .milliseconds(500))
            #expect(await Self.inFlight(core) == 0, "the timer is gone from the ring")
        }

        @Test("cancelling from the same core works too")
        func cancelFromSameCore() async throws {
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            let outcome = try await runtime.handle.spawn(on: .core(1)) { () -> String in
                let sleeper = spawn { try await sleep(for: .seconds(30)) }
                try await sleep(for: .milliseconds(2))
                sleeper.cancel()
                do {
                    try await sleeper.value
                    return "finished"
                } catch is CancellationError {
                    return "cancelled"
                }
            }.value
            #expect(outcome == "cancelled")
            #expect(await Self.inFlight(runtime.cores[1]) == 0)
        }

        @Test("a task cancelled before it submits never reaches the ring")
        func cancelledBeforeSubmit() async throws {
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            let result = try await runtime.handle.spawn(on: .core(0)) { () -> String in
                let core = Core.current!
                let before = core.statistics.completions
                withUnsafeCurrentTask { $0?.cancel() }
                do {
                    try await sleep(for: .seconds(30))
                    return "slept"
                } catch is CancellationError {
                    return core.statistics.completions == before ? "cancelled without a ring round trip" : "went to the ring"
                }
            }.value
            #expect(result == "cancelled without a ring round trip")
        }

        @Test("1,000 pending operations cancelled at once all end, and the table drains")
        func manyCancels() async throws {
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            let handles = (0..<1000).map { index in
                runtime.handle.spawn(on: .core(index % 2)) { try await sleep(for: .seconds(30)) }
            }
            while await Self.inFlight(runtime.cores[0]) + Self.inFlight(runtime.cores[1]) < 1000 {
                try await Task.sleep(for: .milliseconds(1))
            }
            for handle in handles { handle.cancel() }
            var cancelled = 0
            for handle in handles {
                if case .failure(let error) = await handle.result, error is CancellationError { cancelled += 1 }
            }
            #expect(cancelled == 1000)
            #expect(await Self.inFlight(runtime.cores[0]) == 0)
            #expect(await Self.inFlight(runtime.cores[1]) == 0)
        }
    }

    @Suite("Blocking pool")
    struct BlockingPool {
        @Test("spawnBlocking does not stall its core")
        func doesNotStall() async throws {
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            let (value, ticksWhileBlocked) = try await runtime.handle.spawn(on: .core(0)) { () -> (Int, Int) in
                let ticks = CoreLocal(0)
                let ticker = spawn { () -> Void in
                    for await _ in interval(every: .milliseconds(5)) { ticks.value += 1 }
                }
                let value = try await spawnBlocking { () -> Int in
                    usleep(200_000)
                    return 5
                }
                let seen = ticks.value
                ticker.cancel()
                return (value, seen)
            }.value
            #expect(value == 5)
            #expect(ticksWhileBlocked >= 10, "the core kept ticking while the pool thread slept")
        }

        @Test("errors come back to the awaiting task")
        func errors() async throws {
            struct Failed: Error {}
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            await #expect(throws: Failed.self) {
                try await runtime.handle.spawn { try await spawnBlocking { () throws -> Int in throw Failed() } }.value
            }
        }

        @Test("the pool is bounded")
        func bounded() async throws {
            let runtime = try makeRuntime(maxBlockingThreads: 2)
            defer { runtime.shutdown() }
            final class Gauge: Sendable {
                let running = Atomic<Int>(0)
                let peak = Atomic<Int>(0)
            }
            let gauge = Gauge()
            let total = try await runtime.handle.spawn { () -> Int in
                try await withThrowingTaskGroup(of: Int.self) { group in
                    for _ in 0..<8 {
                        group.addTask {
                            try await spawnBlocking { () -> Int in
                                let now = gauge.running.wrappingAdd(1, ordering: .sequentiallyConsistent).newValue
                                gauge.peak.max(now, ordering: .sequentiallyConsistent)
                                usleep(20_000)
                                gauge.running.wrappingSubtract(1, ordering: .sequentiallyConsistent)
                                return 1
                            }
                        }
                    }
                    return try await group.reduce(0, +)
                }
            }.value
            #expect(total == 8)
            let peak = gauge.peak.load(ordering: .sequentiallyConsistent)
            #expect(peak == 2)
        }

        @Test("outside a runtime, spawnBlocking says so")
        func outside() async {
            await #expect {
                _ = try await spawnBlocking { 1 }
            } throws: { error in
                if case RuntimeError.notOnRuntimeThread(let operation)? = error as? RuntimeError { return operation == "spawnBlocking" }
                return false
            }
        }
    }
}
