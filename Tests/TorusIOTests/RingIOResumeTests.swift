import Glibc
import Synchronization
import Testing
import TorusRing
import TorusTestSupport

@testable import Torus

/// The cores ``RingIOResumeTests`` saw each attempt on, and its first attempt.
final class AttemptSlot: Sendable {
    let cores = Mutex<[Int]>([])
    let first = Mutex<(core: Core, id: OperationID)?>(nil)
    /// Records an attempt on core `index`; returns its number (1 for the first).
    func record(_ index: Int) -> Int {
        cores.withLock {
            $0.append(index)
            return $0.count
        }
    }
}

extension RuntimeSuite {
    /// `ringIO` is `nonisolated(nonsending)`: after each await it goes on wherever its caller's
    /// executor runs. A default actor shared by tasks on two cores is drained by whichever
    /// core's thread holds it, so `ringIO` called from the actor itself could resume on the
    /// other core and retry there through the first core's driver (it trapped). Torus reaches
    /// it only through plain `nonisolated async` entry points (the public reads and writes),
    /// which run on the task's own core: this test calls it the same way.
    @Suite("ringIO after resuming on another core")
    struct RingIOResumeTests {
        actor Contended {

            /// One `ringIO` whose first attempt is a splice out of an empty pipe (it blocks in
            /// one of io_uring's workers until ``hold(on:)`` cancels it by id, which interrupts
            /// it: `EINTR` or a restart code, both retried), and whose retry is a NOP. Returns
            /// the core each attempt was submitted on.
            func interruptedOnce(splicingFrom input: Int32, to output: Int32) async throws -> [Int] {
                try await Self.publicEntry(splicingFrom: input, to: output, slot: slot)
            }

            /// Where the first attempt is recorded, readable from the actor and from the entry.
            nonisolated let slot = AttemptSlot()

            /// As a public read or write is: plain `nonisolated async`, so it runs on the
            /// calling task's core, not on the actor's current thread.
            nonisolated static func publicEntry(splicingFrom input: Int32, to output: Int32, slot: AttemptSlot) async throws -> [Int] {
                _ = try await ringIO("splice") { entry, core, id in
                    let attempt = slot.record(core.index)
                    if attempt == 1 {
                        entry.prepareSplice(from: input, offset: -1, to: output, offset: -1, length: 1, flags: 0)
                        slot.first.withLock { $0 = (core, id) }
                    } else {
                        entry.prepareNop()
                    }
                }
                return slot.cores.withLock { $0 }
            }

            /// If it runs on core `index` while the splice waits: cancels the splice (through its
            /// core's mailbox and eventfd, now, not with this core's next submission) and holds
            /// the actor while the interrupted splice completes, so that its call resumes behind
            /// this job, on this core. False otherwise.
            func hold(on index: Int) -> Bool {
                guard Core.current?.index == index, let (core, id) = slot.first.withLock({ $0 }) else { return false }
                _ = core.mailbox.push(.cancel(id))
                core.driver.wake(from: nil)
                let start = ContinuousClock.now
                while ContinuousClock.now - start < .milliseconds(50) {}
                return true
            }
        }

        // Called from the actor itself, `ringIO` trapped here ("ring operations must be
        // submitted from core 0's own thread": the retry went through the core looked up before
        // the await, after the call had resumed on core 1). Through a plain entry point, as
        // every public read and write is, both attempts run on the task's core.
        @Test(
            "an I/O call from a default actor that core 1 takes over meanwhile is retried on the task's own core, without trapping")
        func retryOnTheCoreItResumedOn() async throws {
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            var empty: [Int32] = [0, 0]
            var sink: [Int32] = [0, 0]
            #expect(pipe(&empty) == 0 && pipe(&sink) == 0)
            defer { for fd in empty + sink { close(fd) } }
            let contended = Contended()
            let (input, output) = (empty[0], sink[1])
            let interrupted = runtime.handle.spawn(on: .core(0)) { try await contended.interruptedOnce(splicingFrom: input, to: output) }
            // Core 1 takes the actor while the splice waits (the first tries may come before it
            // is submitted, or find the actor still held on core 0).
            let held = try await runtime.handle.spawn(on: .core(1)) { () -> Bool in
                for _ in 0..<10_000 {
                    if await contended.hold(on: 1) { return true }
                    try await sleep(for: .microseconds(100))
                }
                return false
            }.value
            #expect(held)
            #expect(try await interrupted.value == [0, 0], "both attempts are submitted on the task's core")
        }
    }
}
