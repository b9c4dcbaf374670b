import Foundation
import Logging
import Synchronization
import Testing
import TorusTestSupport

@testable import Torus

extension RuntimeSuite {
    @Suite("Operability: stalls, metrics, logging")
    struct OperabilityTests {
        @Test("a 200 ms busy job is reported with its core and duration, in the log and to onStall; short jobs are not")
        func stallIsReported() async throws {
            let reports = Mutex<[StallReport]>([])
            let log = LogStore()
            let runtime = try Runtime(
                RuntimeConfiguration(
                    cores: .count(2), logger: log.logger, stallThreshold: .milliseconds(50),
                    onStall: { report in reports.withLock { $0.append(report) } }))
            defer { runtime.shutdown() }
            // Ordinary work first: many short jobs and sleeps must not look like a stall.
            try await runtime.handle.spawn(on: .core(1)) {
                for _ in 0..<200 { try await sleep(for: .milliseconds(1)) }
            }.value
            #expect(reports.withLock { $0 }.isEmpty)
            try await runtime.handle.spawn(on: .core(1)) {
                let start = ContinuousClock.now
                while ContinuousClock.now - start < .milliseconds(200) {}  // blocks core 1
            }.value
            try await Task.sleep(for: .milliseconds(100))  // the watchdog sees the end
            let seen = reports.withLock { $0 }
            #expect(seen.count == 2, "\(seen)")
            #expect(seen.first.map { $0.core == 1 && !$0.ended && $0.duration >= .milliseconds(50) } == true, "\(seen)")
            #expect(
                seen.last.map { $0.core == 1 && $0.ended && $0.duration >= .milliseconds(150) && $0.duration < .milliseconds(500) } == true, "\(seen)"
            )
            #expect(log.messages(at: .warning).contains { $0.hasPrefix("core 1 has been running one job for") })
            #expect(log.messages(at: .warning).contains { $0.hasPrefix("core 1 was blocked by one job for") })
        }

        @Test("metrics count a known workload on the core that ran it")
        func metricsCountWork() async throws {
            let runtime = try Runtime(RuntimeConfiguration(cores: .count(2)))
            defer { runtime.shutdown() }
            let before = await runtime.handle.metrics()
            try await runtime.handle.spawn(on: .core(1)) {
                for _ in 0..<1000 { try await sleep(for: .zero) }
            }.value
            let sleeper = runtime.handle.spawn(on: .core(1)) { try await sleep(for: .seconds(10)) }
            try await Task.sleep(for: .milliseconds(20))
            let after = await runtime.handle.metrics()
            sleeper.cancel()
            #expect(after.cores.map(\.index) == [0, 1])
            #expect(after.cores[1].jobsRun - before.cores[1].jobsRun >= 1000)
            #expect(after.cores[1].completions - before.cores[1].completions >= 1000)
            #expect(after.cores[1].operationsInFlight == 1, "the sleeper's timer")
            #expect(after.cores[1].liveTasks == 1)
            #expect(after.liveTasks == 1)
            #expect(after.cores[0].completions - before.cores[0].completions < 100, "core 0 did not run the workload")
        }

        @Test("the setup of each core is logged at debug level; abandoned tasks at shutdown at warning")
        func startAndShutdownAreLogged() async throws {
            let log = LogStore()
            let runtime = try Runtime(RuntimeConfiguration(cores: .count(2), logger: log.logger))
            // A task that ignores cancellation by waiting on something nobody resumes.
            _ = runtime.handle.spawn(on: .core(0)) {
                await withUnsafeContinuation { (_: UnsafeContinuation<Void, Never>) in }
            }
            try await Task.sleep(for: .milliseconds(10))
            let report = await runtime.shutdown(gracePeriod: .milliseconds(10), cancellationWait: .milliseconds(10))
            #expect(report.abandonedTasks == 1)
            #expect(log.messages(at: .debug).filter { $0.hasPrefix("core ") && $0.contains("started") }.count == 2)
            #expect(log.messages(at: .warning).contains { $0.contains("1 task(s) still suspended after cancellation were abandoned") })
        }
    }
}
