import Foundation
import Synchronization
import Testing
import TorusTestSupport

@testable import Torus

/// An actor pinned to one core: its executor is the core.
actor PinnedCounter {
    let core: Core
    var count = 0
    init(core: Core) { self.core = core }
    nonisolated var unownedExecutor: UnownedSerialExecutor { core.asUnownedSerialExecutor() }

    func increment() -> Int {
        core.checkIsolated()
        count += 1
        return Core.current!.index
    }

    func incrementAfterSleep() async throws -> Int {
        try await sleep(for: .milliseconds(1))
        core.checkIsolated()
        count += 1
        return Core.current!.index
    }
}

extension RuntimeSuite {
    @Suite("Placement")
    struct Placement {
        @Test("a task stays on its core across ring sleeps, Task.sleep, yields, task groups and async let")
        func staysOnCore() async throws {
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            for index in 0..<2 {
                let seen = try await runtime.handle.spawn(on: .core(index)) { () -> Set<Int> in
                    var seen: Set<Int> = [Core.current!.index]
                    try await sleep(for: .milliseconds(1))
                    seen.insert(Core.current!.index)
                    try await Task.sleep(for: .milliseconds(1))
                    seen.insert(Core.current!.index)
                    await Task.yield()
                    seen.insert(Core.current!.index)
                    let children = await withTaskGroup(of: Int.self) { group in
                        for _ in 0..<8 {
                            group.addTask {
                                try? await sleep(for: .milliseconds(1))
                                return Core.current?.index ?? -1
                            }
                        }
                        return await Set(group.reduce(into: [Int]()) { $0.append($1) })
                    }
                    seen.formUnion(children)
                    async let child: Int = { Core.current?.index ?? -1 }()
                    seen.insert(await child)
                    return seen
                }.value
                #expect(seen == [index])
            }
        }

        @Test("a pinned actor runs on its core, whoever calls it")
        func pinnedActor() async throws {
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            let counter = PinnedCounter(core: runtime.cores[1])
            let fromCore0 = try await runtime.handle.spawn(on: .core(0)) { () -> [Int] in
                var cores: [Int] = []
                for _ in 0..<10 { cores.append(await counter.increment()) }
                cores.append(try await counter.incrementAfterSleep())
                cores.append(Core.current!.index)
                return cores
            }.value
            #expect(Array(fromCore0.prefix(11)) == Array(repeating: 1, count: 11))
            #expect(fromCore0.last == 0, "the caller is back on its own core afterwards")
            #expect(await counter.count == 11)
        }

        @Test("spread placement uses every core")
        func spread() async throws {
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            var seen: Set<Int> = []
            for _ in 0..<8 {
                seen.insert(try await runtime.handle.spawn(on: .spread) { Core.current!.index }.value)
            }
            #expect(seen == [0, 1])
        }

        @Test("spawn defaults to the caller's core")
        func spawnOnCurrent() async throws {
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            let pairs = try await runtime.handle.spawn(on: .core(1)) { () -> [Int] in
                let inner = try await spawn { Core.current!.index }.value
                return [Core.current!.index, inner]
            }.value
            #expect(pairs == [1, 1])
        }

        @Test("work handed to another core comes back to the caller's core")
        func hop() async throws {
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            let trail = try await runtime.handle.spawn(on: .core(0)) { () -> [Int] in
                let other = RuntimeHandle.current!.cores[1]
                let there = try await other.run { () -> Int in
                    try await sleep(for: .milliseconds(1))
                    return Core.current!.index
                }
                return [there, Core.current!.index]
            }.value
            #expect(trail == [1, 0])
        }

        @Test("a plain thread holding a handle spawns onto the runtime and blocks on results")
        func foreignThread() throws {
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            let handle = runtime.handle
            let results = Mutex<[Int]>([])
            let done = DispatchSemaphore(value: 0)
            let thread = Thread {
                for index in 0..<2 {
                    let value = try? handle.block(placement: .core(index)) { () -> Int in
                        try await sleep(for: .milliseconds(1))
                        return Core.current!.index
                    }
                    results.withLock { $0.append(value ?? -1) }
                }
                done.signal()
            }
            thread.start()
            done.wait()
            #expect(results.withLock { $0 } == [0, 1])
        }

        @Test("Core.execute runs a closure on the core from any thread")
        func execute() async throws {
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            let core = runtime.cores[1]
            let ran = await withCheckedContinuation { continuation in
                core.execute { continuation.resume(returning: Core.current?.index) }
            }
            #expect(ran == 1)
        }

        @Test("join handles give values, errors and cancellation")
        func joinHandles() async throws {
            struct Oops: Error {}
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            #expect(try await runtime.handle.spawn { 7 }.value == 7)
            await #expect(throws: Oops.self) { try await runtime.handle.spawn { () -> Int in throw Oops() }.value }
            let sleeper = runtime.handle.spawn { try await sleep(for: .seconds(30)) }
            sleeper.cancel()
            #expect(sleeper.isCancelled)
            await #expect(throws: CancellationError.self) { try await sleeper.value }
        }
    }
}
