import Glibc
import Testing
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

        @Test("waitForSignal sees only signals sent after it started")
        func waitForOne() async throws {
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            _ = try SignalListener([.user1])   // the handler, so that an early SIGUSR1 cannot kill the runner
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
