import Glibc
import Testing
import TorusTestSupport

@testable import Torus

extension RuntimeSuite {
    @Suite("Signals")
    struct Signals {
        @Test("a listener reports each delivery once, including one that arrived before the wait")
        func listener() async throws {
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            let listener = try SignalListener([.user1, .user2])
            // Delivered before anyone waits: not lost.
            kill(getpid(), SIGUSR2)
            let first = try await runtime.handle.spawn { try await listener.next() }.value
            #expect(first == .user2)
            // Delivered while a task waits on a core (or just before it waits: not lost either).
            let waiting = runtime.handle.spawn { try await listener.next() }
            try await Task.sleep(for: .milliseconds(20))
            kill(getpid(), SIGUSR1)
            #expect(try await waiting.value == .user1)
            // Nothing more is pending: a wait now is cancellable and ends with CancellationError.
            let idle = runtime.handle.spawn { try await listener.next() }
            try await Task.sleep(for: .milliseconds(20))
            idle.cancel()
            await #expect(throws: CancellationError.self) { try await idle.value }
        }

        @Test("cancelling: a signal cancels the body and is reported; a body that ends first leaves nothing behind")
        func cancelling() async throws {
            let runtime = try makeRuntime()
            let listener = try SignalListener([.user2])
            // The body waits until cancelled; the signal comes while it runs.
            let signalled = runtime.handle.spawn {
                await listener.cancelling { () -> Int in
                    try await Torus.sleep(for: .seconds(60))
                    return 1
                }
            }
            let signaller = Task {
                while !Task.isCancelled {
                    kill(getpid(), SIGUSR2)
                    try await Task.sleep(for: .milliseconds(10))
                }
            }
            let interrupted = try await signalled.value
            signaller.cancel()
            _ = try? await signaller.value
            #expect(interrupted.signal == .user2)
            #expect(throws: CancellationError.self) { try interrupted.result.get() }
            // Drain deliveries the signaller made after the first, so the next body is not cut short.
            while (try? await runtime.handle.spawn({ try await withTimeout(.milliseconds(50)) { try await listener.next() } }).value) != nil {}
            // The body ends first: its value, no signal, and no watcher left to hold the shutdown.
            let finished = try await runtime.handle.spawn { await listener.cancelling { 42 } }.value
            #expect(try finished.result.get() == 42)
            #expect(finished.signal == nil)
            let start = ContinuousClock.now
            let report = await runtime.shutdown(gracePeriod: .seconds(5))
            #expect(ContinuousClock.now - start < .seconds(1), "\(report)")
        }

        @Test("waitForSignal sees only signals sent after it started")
        func waitForOne() async throws {
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            _ = try SignalListener([.user1])  // the handler, so that an early SIGUSR1 cannot kill the runner
            let waiting = runtime.handle.spawn { try await waitForSignal([.user1]) }
            // Keep signalling until the waiter (which only sees later signals) has seen one.
            let signaller = Task {
                while !Task.isCancelled {
                    kill(getpid(), SIGUSR1)
                    try await Task.sleep(for: .milliseconds(10))
                }
            }
            #expect(try await waiting.value == .user1)
            signaller.cancel()
        }
    }
}
