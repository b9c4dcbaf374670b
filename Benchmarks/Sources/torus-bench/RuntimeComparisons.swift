import Dispatch
import Foundation
import NIOCore
import NIOPosix
import Torus

/// An actor whose executor is a Torus core.
actor CoreActor {
    let core: Core
    init(core: Core) { self.core = core }
    nonisolated var unownedExecutor: UnownedSerialExecutor { core.asUnownedSerialExecutor() }
    func ping() -> Int { Core.current === core ? 1 : 1_000_000 }
    func pingMany(_ count: Int, target: CoreActor) async -> Int {
        var sum = 0
        for _ in 0..<count { sum += await target.ping() }
        return sum
    }
}

/// An actor whose executor is a SwiftNIO event loop.
actor LoopActor {
    let loop: any EventLoop
    init(loop: any EventLoop) { self.loop = loop }
    nonisolated var unownedExecutor: UnownedSerialExecutor { loop.executor.asUnownedSerialExecutor() }
    func ping() -> Int { loop.inEventLoop ? 1 : 1_000_000 }
    func pingMany(_ count: Int, target: LoopActor) async -> Int {
        var sum = 0
        for _ in 0..<count { sum += await target.ping() }
        return sum
    }
    /// Hands a closure to the loop and awaits its completion on the loop: the NIO analogue of
    /// awaiting one completion.
    func awaitLoopCompletions(_ count: Int) async -> Int {
        var sum = 0
        for _ in 0..<count {
            sum += await withUnsafeContinuation { (continuation: UnsafeContinuation<Int, Never>) in
                loop.execute { continuation.resume(returning: 1) }
            }
        }
        return sum
    }
}

/// A default actor (Swift's global executor).
actor PlainActor {
    func ping() -> Int { 1 }
    func pingMany(_ count: Int, target: PlainActor) async -> Int {
        var sum = 0
        for _ in 0..<count { sum += await target.ping() }
        return sum
    }
}

/// The runtime foundation: spawning, hopping between cores, cross-thread hand-off, timers,
/// and the cost of one awaited completion.
struct RuntimeComparisons {
    let runtime: Runtime
    let loops: MultiThreadedEventLoopGroup
    let unpinnedLoops: MultiThreadedEventLoopGroup
    let repetitions: Int
    let scale: Int

    func run() throws -> [Comparison] {
        [
            try spawnAwait(), try taskGroupFanOut(), try crossCoreHop(), try foreignHandOff(), try awaitedCompletion(),
            try timerLateness(),
        ] + (try busyPollComparisons())
    }

    /// Spawning a task and awaiting its value, one at a time.
    func spawnAwait() throws -> Comparison {
        let n = 100_000 / scale
        let torus = try measure(operations: n, repetitions: repetitions) {
            _ = try runtime.block {
                var sum = 0
                for i in 0..<n { sum &+= try await spawn { i }.value }
                return sum
            }
        }
        let global = measure(operations: n, repetitions: repetitions) {
            _ = blockOnGlobal {
                var sum = 0
                for i in 0..<n { sum &+= await Task { i }.value }
                return sum
            }
        }
        return Comparison(
            name: "spawn + await, sequential", unit: "ns/op", torus: torus.wallPerOp,
            peers: [("Swift global executor (Task {})", global.wallPerOp)],
            note: "wall time per task")
    }

    /// A task group of 10,000 children.
    func taskGroupFanOut() throws -> Comparison {
        let n = 10_000 / scale
        let torus = try measure(operations: n, repetitions: repetitions) {
            _ = try runtime.block {
                await withTaskGroup(of: Int.self) { group in
                    for i in 0..<n { group.addTask { i } }
                    return await group.reduce(0, &+)
                }
            }
        }
        let global = measure(operations: n, repetitions: repetitions) {
            _ = blockOnGlobal {
                await withTaskGroup(of: Int.self) { group in
                    for i in 0..<n { group.addTask { i } }
                    return await group.reduce(0, &+)
                }
            }
        }
        return Comparison(
            name: "task group, 10k children", unit: "ns/op", torus: torus.wallPerOp,
            peers: [("Swift global executor", global.wallPerOp)],
            note: "Torus keeps the group on one core")
    }

    /// An actor on one core/loop calling an actor on the other: a cross-thread round trip.
    func crossCoreHop() throws -> Comparison {
        let n = 20_000 / scale
        let torus = try actorRoundTrips(on: runtime, count: n)
        let nio = actorRoundTrips(on: loops, count: n)
        let loose = actorRoundTrips(on: unpinnedLoops, count: n)
        let plainA = PlainActor()
        let plainB = PlainActor()
        let plain = measure(operations: n, repetitions: repetitions) {
            _ = blockOnGlobal { await plainA.pingMany(n, target: plainB) }
        }
        return Comparison(
            name: "actor on core 0 -> actor on core 1 round trip", unit: "ns/op", torus: torus.wallPerOp,
            peers: [
                ("SwiftNIO event-loop actors, pinned", nio.wallPerOp),
                ("SwiftNIO event-loop actors, unpinned", loose.wallPerOp),
                ("default actors, global executor (no thread switch: the runtime runs both inline)", plain.wallPerOp),
            ],
            note: "dominated by the cross-CPU wake-up (IPI) when the target sleeps")
    }

    /// `count` calls from an actor on the runtime's core 0 to one on its core 1.
    func actorRoundTrips(on runtime: Runtime, count n: Int) throws -> Sample {
        let a = CoreActor(core: runtime.cores[0])
        let b = CoreActor(core: runtime.cores[1 % runtime.cores.count])
        return try measure(operations: n, repetitions: repetitions) {
            let sum = try runtime.block { await a.pingMany(n, target: b) }
            precondition(sum == n, "Torus actor calls ran off their core")
        }
    }

    /// `count` calls from an actor on one of the group's event loops to one on the next.
    func actorRoundTrips(on group: MultiThreadedEventLoopGroup, count n: Int) -> Sample {
        let a = LoopActor(loop: group.next())
        let b = LoopActor(loop: group.next())
        return measure(operations: n, repetitions: repetitions) {
            let sum = blockOnGlobal { await a.pingMany(n, target: b) }
            precondition(sum == n, "NIO actor calls ran off their loop")
        }
    }

    /// The opt-in busy-poll window (`RuntimeConfiguration.busyPoll`): the cross-core round trip
    /// with a runtime whose cores poll 50 us before parking, against the same runtime without
    /// it and SwiftNIO; then what the window costs in CPU when idle and under a light load (one
    /// round trip per millisecond), both runtimes measured the same way.
    func busyPollComparisons() throws -> [Comparison] {
        let n = 20_000 / scale
        let polling = try Runtime(RuntimeConfiguration(cores: .count(2), busyPoll: .microseconds(50)))
        defer { polling.shutdown() }
        let pollingTrips = try actorRoundTrips(on: polling, count: n)
        let plainTrips = try actorRoundTrips(on: runtime, count: n)
        let nio = actorRoundTrips(on: loops, count: n)
        /// Process CPU over one second of `load` (the benchmark's own thread only waits).
        func cpuPerSecond(_ runtime: Runtime, roundTripsPerMillisecond: Bool) throws -> Double {
            let a = CoreActor(core: runtime.cores[0])
            let b = CoreActor(core: runtime.cores[1])
            usleep(20_000)  // let the cores go idle first
            let start = processCPUNanoseconds()
            if roundTripsPerMillisecond {
                _ = try runtime.block {
                    var sum = 0
                    for _ in 0..<1000 {
                        sum += await a.pingMany(1, target: b)
                        try await Torus.sleep(for: .milliseconds(1))
                    }
                    return sum
                }
            } else {
                usleep(1_000_000)
            }
            return Double(processCPUNanoseconds() - start) / 1e6
        }
        let idlePolling = try cpuPerSecond(polling, roundTripsPerMillisecond: false)
        let idlePlain = try cpuPerSecond(runtime, roundTripsPerMillisecond: false)
        let lightPolling = try cpuPerSecond(polling, roundTripsPerMillisecond: true)
        let lightPlain = try cpuPerSecond(runtime, roundTripsPerMillisecond: true)
        return [
            Comparison(
                name: "actor round trip across cores, busyPoll 50 us", unit: "ns/op", torus: pollingTrips.wallPerOp,
                peers: [("Torus without busy-poll", plainTrips.wallPerOp), ("SwiftNIO event-loop actors, pinned", nio.wallPerOp)],
                note: String(format: "CPU per round trip %.0f ns (without: %.0f ns)", pollingTrips.cpuPerOp, plainTrips.cpuPerOp)),
            Comparison(
                name: "idle runtime, 2 cores, 1 s: process CPU, busyPoll 50 us", unit: "ms", torus: idlePolling,
                peers: [("Torus without busy-poll", idlePlain)], note: "a core polls one window after its last work, then parks"),
            Comparison(
                name: "light load (a round trip, then a 1 ms sleep, x1000): process CPU, busyPoll 50 us", unit: "ms", torus: lightPolling,
                peers: [("Torus without busy-poll", lightPlain)], note: "about one window per wake-up on each core"),
        ]
    }

    /// A plain thread handing 1M closures to an executor, timed until the last one ran.
    func foreignHandOff() throws -> Comparison {
        let n = 1_000_000 / scale
        let core = runtime.cores[0]
        let torus = measure(operations: n, repetitions: repetitions) {
            let done = DispatchSemaphore(value: 0)
            for i in 0..<n {
                if i == n - 1 { core.execute { done.signal() } } else { core.execute {} }
            }
            done.wait()
        }
        let loop = loops.next()
        let nio = measure(operations: n, repetitions: repetitions) {
            let done = DispatchSemaphore(value: 0)
            for i in 0..<n {
                if i == n - 1 { loop.execute { done.signal() } } else { loop.execute {} }
            }
            done.wait()
        }
        return Comparison(
            name: "plain thread -> executor, 1M closures", unit: "ns/op", torus: torus.wallPerOp,
            peers: [("SwiftNIO EventLoop.execute", nio.wallPerOp)],
            note: "lock-free mailbox vs NIO's locked queue")
    }

    /// The smallest awaited completion each runtime can make on its own thread.
    func awaitedCompletion() throws -> Comparison {
        let n = 100_000 / scale
        let torus = try measure(operations: n, repetitions: repetitions) {
            _ = try runtime.block {
                for _ in 0..<n { await ringNop() }
            }
        }
        let actor = LoopActor(loop: loops.next())
        let nio = measure(operations: n, repetitions: repetitions) {
            _ = blockOnGlobal { await actor.awaitLoopCompletions(n) }
        }
        return Comparison(
            name: "await one completion on the same thread", unit: "ns/op", torus: torus.wallPerOp,
            peers: [("SwiftNIO: continuation resumed by loop.execute, on the loop", nio.wallPerOp)],
            note: "Torus: an IORING_OP_NOP through the kernel")
    }

    /// How late a 1 ms sleep wakes up, on average.
    func timerLateness() throws -> Comparison {
        let n = max(20, 200 / scale)
        let target = Duration.milliseconds(1)
        func lateness(_ total: Duration) -> Double { Double((total / n - target).clampedToZeroNanoseconds) }
        let torusTotal = try runtime.block {
            try await elapsedTime { for _ in 0..<n { try await Torus.sleep(for: target) } }
        }
        let globalTotal = try blockOnGlobal {
            try await elapsedTime { for _ in 0..<n { try await Task.sleep(for: target) } }
        }
        let loop = loops.next()
        let nioTotal = try blockOnGlobal {
            try await elapsedTime {
                for _ in 0..<n { try await loop.scheduleTask(in: .milliseconds(1)) {}.futureResult.get() }
            }
        }
        return Comparison(
            name: "1 ms sleep: mean lateness", unit: "ns late", torus: lateness(torusTotal),
            peers: [("Task.sleep on the global executor", lateness(globalTotal)), ("SwiftNIO scheduleTask", lateness(nioTotal))],
            note: "IORING_OP_TIMEOUT on the core")
    }
}

func elapsedTime(_ body: () async throws -> Void) async rethrows -> Duration {
    let start = ContinuousClock.now
    try await body()
    return ContinuousClock.now - start
}

extension Duration {
    var clampedToZeroNanoseconds: Int64 {
        let (seconds, attoseconds) = components
        return max(0, seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    }
}
