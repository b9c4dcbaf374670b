import Glibc
import Synchronization
import Testing
import Torus
import TorusTestSupport

/// The opt-in busy-poll window (`RuntimeConfiguration.busyPoll`): a core that has run out of
/// work keeps looking for it before it parks.
extension RuntimeSuite {
    @Suite("Busy-poll before parking")
    struct BusyPollTests {
        /// CPU time the calling thread has used, in nanoseconds.
        static func threadCPUNanoseconds() -> UInt64 {
            var now = timespec()
            clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now)
            return UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
        }

        /// An actor that runs on one core. Not PlacementTests' `PinnedCounter` called from a
        /// task: the wake-up left in the SQ showed only in actor-to-actor hops (a task on core 0
        /// calling an actor on core 1 passed the test with the defect in place).
        actor Pinned {
            let core: Core
            init(_ core: Core) { self.core = core }
            nonisolated var unownedExecutor: UnownedSerialExecutor { core.asUnownedSerialExecutor() }
            func pong() -> Int { Core.current === core ? 1 : 0 }
            /// Calls `other` `times` times: each call a hop to its core and back.
            func ping(_ other: Pinned, times: Int) async -> Int {
                var sum = 0
                for _ in 0..<times { sum += await other.pong() }
                return sum
            }
        }

        @Test("with the window on, cross-core hops, timers and socket I/O all complete, and work is found while polling")
        func workArrivesWhilePolling() async throws {
            let runtime = try Runtime(RuntimeConfiguration(cores: .count(2), busyPoll: .microseconds(200)))
            defer { runtime.shutdown() }
            let other = runtime.cores[1]
            let outcome = try await runtime.handle.spawn(on: .core(0)) { () -> (Int, [UInt8]) in
                // Cross-core round trips: each lands on a core that is polling, not parked.
                var hops = 0
                for _ in 0..<2000 { hops += await other.run { Core.current?.index == 1 ? 1 : 0 } }
                // Completions that arrive during the window (DEFER_TASKRUN: only an enter posts them).
                for _ in 0..<20 { try await sleep(for: .microseconds(50)) }
                let (client, server) = try await connectedPair()
                let echoer = spawn(on: .core(1)) {
                    let buffer = IOBuffer(capacity: 8)
                    while try await server.read(into: buffer) > 0 {
                        try await server.writeAll(buffer)
                        buffer.clear()
                    }
                    try await server.close()
                }
                var echoed: [UInt8] = []
                for round in 0..<100 {
                    try await client.writeAll(IOBuffer([UInt8(round)]))
                    echoed += try await client.readExactly(1)
                }
                try await client.close()
                try await echoer.value
                return (hops, echoed)
            }.value
            #expect(outcome.0 == 2000)
            #expect(outcome.1 == (0..<100).map { UInt8($0) })
            let metrics = await runtime.handle.metrics()
            #expect(metrics.cores.reduce(0) { $0 + $1.busyPollsWithWork } > 0)
        }

        @Test("cores that poll hand work to each other without waking one another (the wake-up SQE is not left queued)")
        func pollingCoresNeedNoWakeUps() async throws {
            let runtime = try Runtime(RuntimeConfiguration(cores: .count(2), busyPoll: .milliseconds(1)))
            defer { runtime.shutdown() }
            let first = Pinned(runtime.cores[0])
            let second = Pinned(runtime.cores[1])
            let before = await runtime.handle.metrics()
            let hops = try await runtime.handle.spawn(on: .core(0)) { await first.ping(second, times: 2000) }.value
            let after = await runtime.handle.metrics()
            #expect(hops == 2000)
            // Each hop lands on a core that is still polling. A MSG_RING wake-up left in the
            // sender's SQ while it polled made every hop wait for the sender's window to end
            // (and the receiver to park and be woken): one wake-up per hop, 160x slower.
            let wakeUps = after.cores[1].wakeupsByMessageRing - before.cores[1].wakeupsByMessageRing
            #expect(wakeUps < 1000, "core 1 was woken \(wakeUps) times for 2000 hops")
            #expect(after.cores[1].busyPollsWithWork - before.cores[1].busyPollsWithWork > 1000)
        }

        @Test("an idle core polls for one window and then parks: it does not spin while nothing happens")
        func idleCoreParks() async throws {
            let runtime = try Runtime(RuntimeConfiguration(cores: .count(1), busyPoll: .milliseconds(1)))
            defer { runtime.shutdown() }
            let core = runtime.cores[0]
            let before = await core.run { Self.threadCPUNanoseconds() }
            try await Task.sleep(for: .milliseconds(300))
            let after = await core.run { Self.threadCPUNanoseconds() }
            let parksAfterIdle = await runtime.handle.metrics().cores[0].parks
            // One window after each piece of work (here: the first `run`), then parked. A core
            // that kept spinning would have used about 300 ms of CPU.
            #expect(after - before < 60_000_000, "the idle core used \((after - before) / 1_000_000) ms of CPU")
            #expect(parksAfterIdle > 0)
        }

        @Test("a wake-up for a parked core is submitted while the sender polls, not when its window ends")
        func wakeOfParkedCoreGoesOutWhilePolling() async throws {
            let window = Duration.milliseconds(200)
            let runtime = try Runtime(RuntimeConfiguration(cores: .count(2), busyPoll: window))
            defer { runtime.shutdown() }
            let other = runtime.cores[1]
            // Both cores have had nothing to do for two windows: both are parked.
            try await Task.sleep(for: window * 2)
            let hop = try await runtime.handle.spawn(on: .core(0)) { () -> Duration in
                // Core 0 wakes core 1 with an IORING_OP_MSG_RING queued on its own ring, then
                // polls; core 1 answers the same way.
                let start = ContinuousClock.now
                _ = await other.run { Core.current?.index }
                return ContinuousClock.now - start
            }.value
            #expect(hop < .milliseconds(100) * timingScale, "a round trip to a parked core took \(hop)")
        }

        @Test("shutdown does not wait for a busy-poll window: the stop's cancel goes out at once")
        func shutdownIsNotDelayedByPolling() async throws {
            let runtime = try Runtime(RuntimeConfiguration(cores: .count(2), busyPoll: .seconds(1)))
            _ = await runtime.cores[1].run { 1 }
            let took = await elapsed { await runtime.shutdown(gracePeriod: .zero) }
            #expect(took < .milliseconds(500) * timingScale, "shutdown took \(took)")
        }

        @Test("a core polling for longer than the stall threshold is idle, not reported as a stall")
        func pollingIsNotAStall() async throws {
            let reports = Mutex<[StallReport]>([])
            let runtime = try Runtime(
                RuntimeConfiguration(
                    cores: .count(1), busyPoll: .milliseconds(500), stallThreshold: .milliseconds(20),
                    onStall: { report in reports.withLock { $0.append(report) } }))
            defer { runtime.shutdown() }
            // A little work, then a window of polling: 25 watchdog looks with no job started.
            _ = await runtime.cores[0].run { 1 }
            try await Task.sleep(for: .milliseconds(300))
            let seen = reports.withLock { $0 }
            #expect(seen.isEmpty, "\(seen)")
        }

        @Test("busyPoll outside zero ... 1 s is refused with the field named", arguments: [Duration.seconds(2), .zero - .microseconds(1)])
        func badWindow(window: Duration) {
            #expect {
                _ = try Runtime(RuntimeConfiguration(cores: .count(1), busyPoll: window))
            } throws: { error in
                guard case RuntimeError.invalidConfiguration(let message)? = error as? RuntimeError else { return false }
                return message.contains("busyPoll")
            }
        }
    }
}
