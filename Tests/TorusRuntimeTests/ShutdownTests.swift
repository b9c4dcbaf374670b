import Foundation
import Synchronization
import Testing
import TorusTestSupport

@testable import Torus

extension RuntimeSuite {
    @Suite("Shutdown")
    struct Shutdown {
        @Test("shutdown leaves no extra threads or fds (counted in a child process)")
        func noLeaks() throws {
            let helper = builtExecutable("TorusTestHelper")
            try #require(FileManager.default.isExecutableFile(atPath: helper), "helper not built at \(helper)")
            let outcome = try runProcess(helper, ["leak-check"])
            #expect(outcome.status == 0, "\(outcome.stderr)")
            let counts = outcome.stdout.split(separator: "\n").last.map { $0.split(separator: " ") } ?? []
            try #require(counts.count == 6 && counts[0] == "threads" && counts[3] == "fds", "unexpected output: \(outcome.stdout)")
            #expect(counts[1] == counts[2], "threads before and after")
            #expect(counts[4] == counts[5], "fds before and after")
            #expect(outcome.stdout.contains("sum 2"))
            #expect(outcome.stdout.contains("cancelled 1"))
        }

        @Test("tasks get the grace period, then the rest are cancelled")
        func graceThenCancel() throws {
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
            let report = runtime.shutdown(gracePeriod: .milliseconds(300))
            let took = ContinuousClock.now - start
            #expect(report == ShutdownReport(finishedTasks: 1, cancelledTasks: 1, abandonedTasks: 0))
            let quick = quickDone.load(ordering: .sequentiallyConsistent)
            let slow = slowSawCancel.load(ordering: .sequentiallyConsistent)
            #expect(quick)
            #expect(slow)
            #expect(took >= .milliseconds(300))
            #expect(took < .seconds(2))
            #expect(runtime.shutdown() == report, "a second shutdown returns the first report")
        }

        @Test("a task that never resumes is reported abandoned, and shutdown still completes")
        func abandoned() throws {
            let runtime = try makeRuntime()
            let parked = Mutex<CheckedContinuation<Void, Never>?>(nil)
            runtime.handle.spawn {
                await withCheckedContinuation { continuation in parked.withLock { $0 = continuation } }
            }
            while parked.withLock({ $0 == nil }) { usleep(1000) }
            let report = runtime.shutdown(gracePeriod: .milliseconds(10), cancellationWait: .milliseconds(50))
            #expect(report.abandonedTasks == 1)
            // Resuming it now runs the rest of the task on Swift's global executor.
            parked.withLock { $0?.resume() }
        }

        @Test("after shutdown, spawns fail with shuttingDown and closures still run elsewhere")
        func afterShutdown() async throws {
            let runtime = try makeRuntime()
            let handle = runtime.handle
            let core = runtime.cores[0]
            await runtime.shutdown()
            #expect(!handle.isRunning)
            await #expect {
                try await handle.spawn { 1 }.value
            } throws: { error in
                if case RuntimeError.shuttingDown? = error as? RuntimeError { return true }
                return false
            }
            let ran = await withCheckedContinuation { continuation in
                core.execute { continuation.resume(returning: true) }
            }
            #expect(ran)
        }
    }
}
