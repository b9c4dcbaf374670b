import Glibc
import Testing
import TorusTestSupport

@testable import Torus

/// Attacks on `Core.isTaskOnItsPreferredCore`: whenever it says yes, the thread must be a core's
/// and that core the current task's executor preference, or an inline read is submitted to a
/// ring whose core does not resume the task. A lock-free variant (jobs reaching the core's
/// `TaskExecutor` role tagged in its run queue) failed the first and third tests here and was
/// withdrawn; they stay as guards for any cheaper check to come.
extension RuntimeSuite {
    @Suite("The preferred-core check")
    struct PreferredCoreCheckTests {
        /// What the check sees where it is called.
        struct Point: Sendable, Equatable, CustomStringConvertible {
            /// The index of the core whose thread runs the caller, or -1.
            var core: Int
            /// `Core.isTaskOnItsPreferredCore`.
            var check: Bool
            /// The truth: the thread is a core's and that core is the task's preference.
            var preferred: Bool
            var sound: Bool { !check || preferred }
            var description: String { "core \(core) check \(check) preferred \(preferred)" }

            static var here: Point {
                let core = Core.current
                let preference = withUnsafeCurrentTask { $0?.unownedTaskExecutor }
                return Point(
                    core: core?.index ?? -1, check: Core.isTaskOnItsPreferredCore,
                    preferred: core != nil && preference == core!.asUnownedTaskExecutor())
            }
        }

        /// A `nonisolated(nonsending)` method, handed to `withTaskExecutorPreference` as its
        /// plain `async` operation: Swift 6.3 calls it with no isolation and no hop, so it runs
        /// on in the caller's job, after the scope pushed the new preference.
        struct Probe: Sendable {
            nonisolated(nonsending) func point() async -> Point { Point.here }
            /// A scope entered from a `nonisolated(nonsending)` function, with a closure literal.
            nonisolated(nonsending) func scoped(_ executor: any TaskExecutor) async -> Point {
                await withTaskExecutorPreference(executor) { Point.here }
            }
        }

        @Test(
            "a preference scope to another executor whose operation is a nonisolated(nonsending) function value: the check is not fooled by the job that still runs"
        )
        func preferenceScopeThroughFunctionValue() async throws {
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            let core1 = runtime.cores[1]
            let points = try await runtime.handle.spawn(on: .core(0)) { () -> [String: Point] in
                var points: [String: Point] = [:]
                points["before"] = Point.here
                points["to core 1, function value"] = await withTaskExecutorPreference(core1, operation: Probe().point)
                points["to the global executor, function value"] = await withTaskExecutorPreference(
                    globalConcurrentExecutor, operation: Probe().point)
                points["to core 1, closure in a nonisolated(nonsending) function"] = await Probe().scoped(core1)
                // A closure literal hops on entry: the control.
                points["to core 1, closure"] = await withTaskExecutorPreference(core1) { Point.here }
                points["after"] = Point.here
                return points
            }.value
            #expect(points["before"]?.check == true)
            #expect(points["after"]?.check == true)
            for (name, point) in points.sorted(by: { $0.key < $1.key }) {
                #expect(point.sound, "\(name): \(point)")
            }
        }

        actor Counter {
            func point() -> Point { Point.here }
            func pointAfterYield() async -> Point {
                await Task.yield()
                return Point.here
            }
        }
        actor Pinned {
            let core: Core
            init(core: Core) { self.core = core }
            nonisolated var unownedExecutor: UnownedSerialExecutor { core.asUnownedSerialExecutor() }
            func point() -> Point { Point.here }
            /// Through a function value: no isolation, on the actor's job.
            func pointThroughFunctionValue() async -> Point {
                let probe: () async -> Point = Probe().point
                return await probe()
            }
        }

        /// Everywhere else a task goes, the check says yes only where the task's preference
        /// names the core. Children, group tasks with their own preference, yields,
        /// sleeps (a timer job that resumes the task's continuation), nested and nil scopes,
        /// default actors (their turn is not the task), actors pinned to either core,
        /// `Task.immediate`, `Core.run`; from a task spawned on a core and from a detached task
        /// inside a scope preferring core 0.
        @Test("everywhere else a task goes, the check says yes only on a core its preference names")
        func checkHoldsElsewhere() async throws {
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            let core0 = runtime.cores[0]
            let core1 = runtime.cores[1]
            @Sendable func tour() async throws -> [String: Point] {
                var points: [String: Point] = ["start": Point.here]
                async let child = Point.here
                points["async let child"] = await child
                let groupPoints = await withTaskGroup(of: Point.self) { group in
                    group.addTask { Point.here }
                    group.addTask(executorPreference: core1) { Point.here }
                    group.addTask(executorPreference: globalConcurrentExecutor) { Point.here }
                    return await group.reduce(into: []) { $0.append($1) }
                }
                for (index, point) in groupPoints.enumerated() { points["group child \(index)"] = point }
                await Task.yield()
                points["after yield"] = Point.here
                try await Task.sleep(for: .milliseconds(1))
                points["after sleep"] = Point.here
                points["nested 0"] = await withTaskExecutorPreference(core0) {
                    await withTaskExecutorPreference(core1) {
                        await withTaskExecutorPreference(core0) { Point.here }
                    }
                }
                points["after nested"] = Point.here
                points["scope nil"] = await withTaskExecutorPreference(nil) { Point.here }
                points["scope global"] = await withTaskExecutorPreference(globalConcurrentExecutor) { Point.here }
                points["after scope global"] = Point.here
                points["default actor"] = await Counter().point()
                points["default actor, yield"] = await Counter().pointAfterYield()
                points["pinned 0"] = await Pinned(core: core0).point()
                points["pinned 1"] = await Pinned(core: core1).point()
                points["pinned 0, function value"] = await Pinned(core: core0).pointThroughFunctionValue()
                points["pinned 1, function value"] = await Pinned(core: core1).pointThroughFunctionValue()
                points["after pinned"] = Point.here
                points["immediate"] = await Task.immediate { Point.here }.value
                points["detached"] = await Task.detached { Point.here }.value
                points["unstructured"] = await Task { Point.here }.value
                points["core 1 run"] = await core1.run { Point.here }
                points["end"] = Point.here
                return points
            }
            let tours = [
                "on core 0": try await runtime.handle.spawn(on: .core(0)) { try await tour() }.value,
                "detached, scope core 0": try await Task.detached { try await withTaskExecutorPreference(core0) { try await tour() } }.value,
            ]
            for (name, points) in tours {
                #expect(points["start"]?.check == true && points["end"]?.check == true, "\(name)")
                for (place, point) in points.sorted(by: { $0.key < $1.key }) {
                    #expect(point.sound, "\(name), \(place): \(point)")
                }
            }
        }

        /// A serial executor that hands its jobs to a core through the core's `TaskExecutor`
        /// role (an `any TaskExecutor`), though the task in them prefers another executor.
        final class ForwardingExecutor: SerialExecutor {
            let target: any TaskExecutor
            init(target: any TaskExecutor) { self.target = target }
            func enqueue(_ job: consuming ExecutorJob) { target.enqueue(job) }
            func asUnownedSerialExecutor() -> UnownedSerialExecutor { UnownedSerialExecutor(ordinary: self) }
        }
        actor Forwarded {
            let executor: ForwardingExecutor
            init(core: Core) { executor = ForwardingExecutor(target: core) }
            nonisolated var unownedExecutor: UnownedSerialExecutor { executor.asUnownedSerialExecutor() }
            /// Through a function value: no isolation, on the actor's job.
            func pointThroughFunctionValue() async -> Point {
                let probe: () async -> Point = Probe().point
                return await probe()
            }
        }

        @Test(
            "an actor whose executor forwards to a core through its TaskExecutor role: a task preferring the other core is not taken for one of this core"
        )
        func actorForwardingThroughTaskExecutorRole() async throws {
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            let core0 = runtime.cores[0]
            let point = try await runtime.handle.spawn(on: .core(1)) { await Forwarded(core: core0).pointThroughFunctionValue() }.value
            #expect(point.core == 0)
            #expect(point.sound, "\(point)")
        }

        /// One stream read, as a `nonisolated(nonsending)` method to hand over as a function value.
        struct ReadOnce {
            let stream: TCPStream
            let buffer: IOBuffer
            nonisolated(nonsending) func run() async throws -> Int { try await stream.read(into: buffer, maxLength: buffer.freeCapacity) }
        }

        #if compiler(>=6.2)
            /// The consequence: the receive is submitted to core 0's ring (the check let it run
            /// inline there) but the task, which prefers core 1, resumes on core 1. A cancel it
            /// did not ask for (a duplicate's close cancels by open file description; sent here
            /// as that close would send it) is retried by `ringIO` from core 1's thread on core
            /// 0's ring: the precondition of `submitAndAwait` traps. (Without the retry the
            /// operation is still submitted from core 1's thread to core 0's ring, through the
            /// cancellation handler's hop: a data race on core 0's submission queue.)
            @Test("a stream read as the operation of a preference scope to the other core, cancelled by a duplicate's close: read again, no trap")
            func readInPreferenceScopeThroughFunctionValue() async {
                await #expect(processExitsWith: .success) {
                    let runtime = try makeRuntime()
                    defer { runtime.shutdown() }
                    let core0 = runtime.cores[0]
                    let core1 = runtime.cores[1]
                    let message = Array("preference".utf8)
                    let received = try await runtime.handle.spawn(on: .core(0)) { () -> [UInt8] in
                        let (client, server) = try await connectedPair()
                        let fd = server.handle.descriptor.rawValue
                        let sending = spawn {
                            try await Task.sleep(for: .milliseconds(50))
                            core0.execute { core0.cancelOperations(onDescriptor: fd) }
                            try await Task.sleep(for: .milliseconds(50))
                            try await client.writeAll(IOBuffer(message))
                        }
                        let buffer = IOBuffer(capacity: message.count)
                        while buffer.count < message.count {
                            _ = try await withTaskExecutorPreference(core1, operation: ReadOnce(stream: server, buffer: buffer).run)
                        }
                        try await sending.value
                        try await client.close()
                        try await server.close()
                        return buffer.bytes
                    }.value
                    if received != message { exit(2) }
                }
            }
        #endif
    }
}
