import AsyncAlgorithms
import Foundation
import NIOCore
import NIOPosix
import Synchronization
import Torus

/// An actor used as the idiomatic Swift alternative to an async mutex.
actor CounterActor {
    var value = 0
    func increment() { value += 1 }
    func incrementAcrossAwait() async {
        let seen = value
        await Task.yield()
        value = seen + 1
    }
}

/// Channels and async synchronization against AsyncStream, AsyncChannel, NIO promises, actors.
struct ChannelComparisons {
    let runtime: Runtime
    let loops: MultiThreadedEventLoopGroup
    let repetitions: Int
    let scale: Int

    func run() throws -> [Comparison] {
        let all: [(String, () throws -> Comparison)] = [
            ("mpsc-same", mpscSameCore), ("mpsc-cross", mpscCrossCore), ("oneshot", oneshotRoundTrip),
            ("mutex-uncontended", mutexUncontended), ("mutex-contended", mutexContended),
        ]
        return try all.filter { selected($0.0) }.map { try $0.1() }
    }

    /// Producer and consumer on the same core, bounded channel of 1024.
    func mpscSameCore() throws -> Comparison {
        let (torus, stream, channel) = try mpsc(producerCore: 0)
        return Comparison(
            name: "mpsc, producer and consumer on one core", unit: "ns/op", torus: torus,
            peers: [("AsyncStream (same core)", stream), ("AsyncChannel (same core)", channel)],
            note: "1M Ints, bounded 1024; AsyncStream drops on overflow (no backpressure)")
    }

    /// Producer on core 1, consumer on core 0.
    func mpscCrossCore() throws -> Comparison {
        let (torus, stream, channel) = try mpsc(producerCore: 1)
        return Comparison(
            name: "mpsc, producer on core 1, consumer on core 0", unit: "ns/op", torus: torus,
            peers: [("AsyncStream", stream), ("AsyncChannel", channel)],
            note: "1M Ints")
    }

    /// One million Ints from a producer on `producerCore` to a consumer on core 0, through each
    /// channel type; wall nanoseconds per value.
    func mpsc(producerCore: Int) throws -> (Double, Double, Double) {
        let n = 1_000_000 / scale
        let torus = try measure(operations: n, repetitions: repetitions) {
            _ = try runtime.block {
                let (tx, rx) = MPSC.bounded(Int.self, capacity: 1024)
                spawn(on: .core(producerCore)) {
                    for i in 0..<n { try await tx.send(i) }
                    tx.finish()
                }
                var sum = 0
                for await value in rx { sum &+= value }
                return sum
            }
        }
        let stream = try measure(operations: n, repetitions: repetitions) {
            _ = try runtime.block {
                let (stream, continuation) = AsyncStream.makeStream(of: Int.self, bufferingPolicy: .bufferingNewest(1024))
                spawn(on: .core(producerCore)) {
                    for i in 0..<n { continuation.yield(i) }
                    continuation.finish()
                }
                var sum = 0
                for await value in stream { sum &+= value }
                return sum
            }
        }
        let channel = try measure(operations: n, repetitions: repetitions) {
            _ = try runtime.block {
                let channel = AsyncChannel<Int>()
                spawn(on: .core(producerCore)) {
                    for i in 0..<n { await channel.send(i) }
                    channel.finish()
                }
                var sum = 0
                for await value in channel { sum &+= value }
                return sum
            }
        }
        return (torus.wallPerOp, stream.wallPerOp, channel.wallPerOp)
    }

    /// A reply through a oneshot, sent by another task on the same core.
    func oneshotRoundTrip() throws -> Comparison {
        let n = 200_000 / scale
        let torus = try measure(operations: n, repetitions: repetitions) {
            _ = try runtime.block {
                var sum = 0
                for i in 0..<n {
                    let (tx, rx) = Oneshot.channel(Int.self)
                    spawn { tx.send(i) }
                    sum &+= try await rx.value
                }
                return sum
            }
        }
        let loop = loops.next()
        let nio = try measure(operations: n, repetitions: repetitions) {
            _ = try blockOnGlobal {
                var sum = 0
                for i in 0..<n {
                    let promise = loop.makePromise(of: Int.self)
                    loop.execute { promise.succeed(i) }
                    sum &+= try await promise.futureResult.get()
                }
                return sum
            }
        }
        let continuation = try measure(operations: n, repetitions: repetitions) {
            _ = try runtime.block {
                var sum = 0
                for i in 0..<n {
                    sum &+= await withCheckedContinuation { (continuation: CheckedContinuation<Int, Never>) in
                        spawn { continuation.resume(returning: i) }
                    }
                }
                return sum
            }
        }
        return Comparison(
            name: "oneshot round trip (reply from another task)", unit: "ns/op", torus: torus.wallPerOp,
            peers: [("SwiftNIO promise + await future.get()", nio.wallPerOp), ("CheckedContinuation, same core", continuation.wallPerOp)],
            note: "includes spawning the replying task")
    }

    /// Lock and unlock with nobody else wanting the lock.
    func mutexUncontended() throws -> Comparison {
        let n = 1_000_000 / scale
        let mutex = AsyncMutex(0)
        let torus = try measure(operations: n, repetitions: repetitions) {
            _ = try runtime.block {
                for _ in 0..<n { try await mutex.withLock { $0 += 1 } }
            }
        }
        let counter = CounterActor()
        let actor = try measure(operations: n, repetitions: repetitions) {
            _ = try runtime.block {
                for _ in 0..<n { await counter.increment() }
            }
        }
        return Comparison(
            name: "AsyncMutex lock/unlock, uncontended", unit: "ns/op", torus: torus.wallPerOp,
            peers: [("actor method call (default actor, from a core)", actor.wallPerOp)],
            note: "")
    }

    /// 1,000 tasks (on one core, or over two) each take the lock 20 times, awaiting while
    /// holding it.
    func mutexContended() throws -> Comparison {
        let oneCore = try contendedMutex(cores: 1)
        let twoCores = try contendedMutex(cores: 2)
        let tasks = 1000
        let rounds = max(2, 20 / scale)
        let n = tasks * rounds
        let actorResult = measure(operations: n, repetitions: repetitions) {
            _ = blockOnGlobal {
                let counter = CounterActor()
                await withTaskGroup(of: Void.self) { group in
                    for _ in 0..<tasks {
                        group.addTask { for _ in 0..<rounds { await counter.incrementAcrossAwait() } }
                    }
                }
                return await counter.value
            }
        }
        return Comparison(
            name: "AsyncMutex contended by 1,000 tasks on one core", unit: "ns/op", torus: oneCore,
            peers: [
                ("AsyncMutex, the tasks spread over 2 cores", twoCores),
                ("actor, global executor (reentrant: no exclusion across the await)", actorResult.wallPerOp),
            ],
            note: "held across an await; FIFO hand-off (across cores each hand-off wakes the other core)")
    }

    func contendedMutex(cores: Int) throws -> Double {
        let tasks = 1000
        let rounds = max(2, 20 / scale)
        let n = tasks * rounds
        return try measure(operations: n, repetitions: repetitions) {
            _ = try runtime.block {
                let mutex = AsyncMutex(0)
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for index in 0..<tasks {
                        group.addTask {
                            try await spawn(on: .core(index % cores)) {
                                for _ in 0..<rounds {
                                    try await mutex.withLock { value in
                                        let seen = value
                                        await Task.yield()
                                        value = seen + 1
                                    }
                                }
                            }.value
                        }
                    }
                    try await group.waitForAll()
                }
                let total = try await mutex.withLock { $0 }
                precondition(total == n)
            }
        }.wallPerOp
    }
}
