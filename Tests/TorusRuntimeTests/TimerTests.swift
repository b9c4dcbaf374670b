import Foundation
import Synchronization
import Testing
import TorusTestSupport

@testable import Torus

extension RuntimeSuite {
    @Suite("Timers")
    struct Timers {
        @Test("a 10 ms ring sleep ends between 10 and 100 ms")
        func sleepAccuracy() async throws {
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            let durations = try await runtime.handle.spawn(on: .core(0)) { () -> [Duration] in
                var durations: [Duration] = []
                for _ in 0..<5 {
                    durations.append(try await elapsed { try await sleep(for: .milliseconds(10)) })
                }
                return durations
            }.value
            for duration in durations {
                #expect(duration >= .milliseconds(10))
                #expect(duration < .milliseconds(100))
            }
        }

        @Test("Task.sleep on a core is served by the ring")
        func taskSleepOnRing() async throws {
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            let (took, completions) = try await runtime.handle.spawn(on: .core(1)) { () -> (Duration, UInt64) in
                let core = Core.current!
                let before = core.statistics.completions
                let took = try await elapsed { try await Task.sleep(for: .milliseconds(10)) }
                return (took, core.statistics.completions - before)
            }.value
            #expect(took >= .milliseconds(10))
            #expect(took < .milliseconds(100))
            #expect(completions >= 1, "the timer completion came from the core's ring")
        }

        @Test("sleep(until:) in the past returns at once")
        func sleepUntilPast() async throws {
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            let took = try await runtime.handle.spawn {
                try await elapsed { try await sleep(until: .now - .seconds(1)) }
            }.value
            #expect(took < .milliseconds(50))
        }

        @Test("a timeout fires, cancels the slow operation and throws TimeoutError")
        func timeoutFires() async throws {
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            let (result, innerSawCancel, took) = try await runtime.handle.spawn { () -> (String, Bool, Duration) in
                let sawCancel = CoreLocal(false)
                let start = ContinuousClock.now
                do {
                    try await withTimeout(.milliseconds(20)) {
                        do {
                            try await sleep(for: .seconds(10))
                        } catch is CancellationError {
                            sawCancel.value = true
                            throw CancellationError()
                        }
                    }
                    return ("finished", sawCancel.value, ContinuousClock.now - start)
                } catch let error as TimeoutError {
                    return ("timeout \(error.duration)", sawCancel.value, ContinuousClock.now - start)
                }
            }.value
            #expect(result == "timeout 0.02 seconds")
            #expect(innerSawCancel)
            #expect(took >= .milliseconds(20))
            #expect(took < .milliseconds(500))
        }

        @Test("a fast operation beats its timeout and returns its value")
        func timeoutNotReached() async throws {
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            let value = try await runtime.handle.spawn {
                try await withTimeout(.seconds(5)) { () -> Int in
                    try await sleep(for: .milliseconds(1))
                    return 99
                }
            }.value
            #expect(value == 99)
        }

        @Test("an interval ticks on schedule")
        func intervalTicks() async throws {
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            let (ticks, took) = try await runtime.handle.spawn { () -> (Int, Duration) in
                var ticks = 0
                let took = await elapsed {
                    for await _ in interval(every: .milliseconds(10)) {
                        ticks += 1
                        if ticks == 6 { break }
                    }
                }
                return (ticks, took)
            }.value
            #expect(ticks == 6)
            #expect(took >= .milliseconds(50))
            #expect(took < .milliseconds(400))
        }

        @Test("skip drops missed ticks; burst catches up")
        func missedTicks() async throws {
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            let (skipGaps, burstGaps) = try await runtime.handle.spawn { () -> ([Duration], [Duration]) in
                func gaps(_ behavior: MissedTickBehavior) async throws -> [Duration] {
                    var instants: [ContinuousClock.Instant] = []
                    for await tick in interval(every: .milliseconds(10), missedTickBehavior: behavior) {
                        instants.append(tick)
                        if instants.count == 1 { try await sleep(for: .milliseconds(35)) }
                        if instants.count == 4 { break }
                    }
                    return zip(instants.dropFirst(), instants).map { $0 - $1 }
                }
                return (try await gaps(.skip), try await gaps(.burst))
            }.value
            // Skip: the first gap jumps over the missed ticks to the next multiple (40 ms).
            #expect(skipGaps.first == .milliseconds(40))
            // Burst: due instants stay one period apart.
            #expect(burstGaps.allSatisfy { $0 == .milliseconds(10) })
        }
    }
}
