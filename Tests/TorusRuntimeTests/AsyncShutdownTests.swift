import Foundation
import Synchronization
import Testing
import TorusTestSupport

@testable import Torus

extension RuntimeSuite {
    /// `await runtime.shutdown()`: the grace period is awaited, not slept on a thread.
    @Suite("Async shutdown")
    struct AsyncShutdown {
        @Test("awaiting a shutdown holds no thread: a task on the caller's one-thread core keeps running")
        func holdsNoThread() throws {
            // The caller is a one-core runtime: if the shutdown blocked its thread, the ticker
            // beside it on that core could not run until the shutdown returned.
            let caller = try makeRuntime(cores: 1)
            defer { caller.shutdown(gracePeriod: .zero) }
            let target = try makeRuntime(cores: 1)
            target.handle.spawn { try await sleep(for: .milliseconds(300)) }
            let ticks = SharedCounter()
            let (report, took, ticksDuring) = try caller.block {
                let ticker = spawn {
                    while !Task.isCancelled {
                        try? await sleep(for: .milliseconds(10))
                        ticks.increment()
                    }
                }
                let ticksBefore = ticks.value
                let start = ContinuousClock.now
                let report = await target.shutdown(gracePeriod: .seconds(5))
                let took = ContinuousClock.now - start
                let ticksDuring = ticks.value - ticksBefore
                ticker.cancel()
                return (report, took, ticksDuring)
            }
            #expect(report == ShutdownReport(finishedTasks: 1, cancelledTasks: 0, abandonedTasks: 0))
            #expect(took >= .milliseconds(200), "the shutdown waited for the task: \(took)")
            #expect(took < .seconds(3), "the task's end woke the shutdown before the grace period: \(took)")
            // ~30 ticks of 10 ms in 300 ms; a blocked core manages none.
            #expect(ticksDuring >= 10, "ticks while the shutdown was awaited: \(ticksDuring)")
            #expect(!target.handle.isRunning)
        }

        @Test("tasks get the grace period, then the rest are cancelled (awaited)")
        func graceThenCancel() async throws {
            let runtime = try makeRuntime()
            let quickDone = Atomic<Bool>(false)
            let slowSawCancel = Atomic<Bool>(false)
            runtime.handle.spawn(on: .core(0)) {
                try await sleep(for: .milliseconds(20))
                quickDone.store(true, ordering: .sequentiallyConsistent)
            }
            runtime.handle.spawn(on: .core(1)) {
                do { try await sleep(for: .seconds(3600)) } catch is CancellationError {
                    slowSawCancel.store(true, ordering: .sequentiallyConsistent)
                }
            }
            let start = ContinuousClock.now
            let report = await runtime.shutdown(gracePeriod: .milliseconds(300))
            let took = ContinuousClock.now - start
            #expect(report == ShutdownReport(finishedTasks: 1, cancelledTasks: 1, abandonedTasks: 0))
            let quick = quickDone.load(ordering: .sequentiallyConsistent)
            let slow = slowSawCancel.load(ordering: .sequentiallyConsistent)
            #expect(quick)
            #expect(slow)
            #expect(took >= .milliseconds(300), "the slow task had the whole grace period: \(took)")
            #expect(took < .seconds(2))
        }

        @Test("a task that never resumes is abandoned after the cancellation wait, and the shutdown ends")
        func abandoned() async throws {
            let runtime = try makeRuntime()
            let parked = Mutex<CheckedContinuation<Void, Never>?>(nil)
            runtime.handle.spawn {
                await withCheckedContinuation { continuation in parked.withLock { $0 = continuation } }
            }
            while parked.withLock({ $0 == nil }) { try await Task.sleep(for: .milliseconds(1)) }
            let report = await runtime.shutdown(gracePeriod: .milliseconds(10), cancellationWait: .milliseconds(50))
            #expect(report == ShutdownReport(finishedTasks: 0, cancelledTasks: 0, abandonedTasks: 1))
            parked.withLock { $0?.resume() }
        }

        @Test("concurrent shutdowns, sync and async, all get the one report")
        func concurrentCallers() async throws {
            let runtime = try makeRuntime()
            runtime.handle.spawn { try await sleep(for: .milliseconds(100)) }
            async let first = runtime.shutdown(gracePeriod: .seconds(5))
            async let second = runtime.shutdown(gracePeriod: .zero)
            let blocking = Thread.detachedResult { runtime.shutdown(gracePeriod: .zero) }
            let reports = await [first, second, blocking.value()]
            #expect(reports.allSatisfy { $0 == reports[0] }, "\(reports)")
            #expect(reports[0].finishedTasks + reports[0].cancelledTasks == 1)
            #expect(await runtime.shutdown() == reports[0], "a later call returns the first report")
        }
    }
}

/// A plain thread's result, awaited: for calling a blocking API beside async callers.
private final class ThreadResult<T: Sendable>: Sendable {
    private let result = Mutex<T?>(nil)
    func set(_ value: T) { result.withLock { $0 = value } }
    func value() async -> T {
        while true {
            if let value = result.withLock({ $0 }) { return value }
            try? await Task.sleep(for: .milliseconds(5))
        }
    }
}

extension Thread {
    fileprivate static func detachedResult<T: Sendable>(_ body: @escaping @Sendable () -> T) -> ThreadResult<T> {
        let box = ThreadResult<T>()
        Thread.detachNewThread { box.set(body()) }
        return box
    }
}
