import Foundation
import Synchronization
import Testing
import TorusTestSupport

@testable import Torus

/// Per-producer sequence checking, owned by one core: every message must arrive exactly once
/// and, per producer, in order.
final class SequenceLedger: @unchecked Sendable {
    // @unchecked: touched only on the core that owns it (the test asserts that on every call).
    private var next: [Int]
    private(set) var outOfOrder = 0
    private(set) var received = 0
    let core: Core

    init(producers: Int, core: Core) {
        next = Array(repeating: 0, count: producers)
        self.core = core
    }

    func record(producer: Int, sequence: Int) {
        core.checkIsolated()
        if next[producer] != sequence { outOfOrder += 1 }
        next[producer] = sequence + 1
        received += 1
    }

    var counts: [Int] { next }
}

extension RuntimeSuite {
    @Suite("Mailbox stress")
    struct MailboxStress {
        static let foreignThreads = 4
        static let perThread = 250_000
        static let coreToCore = 100_000

        @Test("4 foreign threads x 250k jobs plus core-to-core traffic: none lost, none duplicated, order kept per producer")
        func stress() async throws {
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            let core0 = runtime.cores[0]
            let core1 = runtime.cores[1]
            // Producers 0-3: foreign threads -> core 0. Producer 4: core 1 -> core 0.
            let ledger0 = SequenceLedger(producers: Self.foreignThreads + 1, core: core0)
            // Producer 0: core 0 -> core 1.
            let ledger1 = SequenceLedger(producers: 1, core: core1)

            let threadsDone = DispatchGroup()
            for producer in 0..<Self.foreignThreads {
                threadsDone.enter()
                Thread {
                    for sequence in 0..<Self.perThread {
                        core0.execute { ledger0.record(producer: producer, sequence: sequence) }
                    }
                    threadsDone.leave()
                }.start()
            }
            let crossA = runtime.handle.spawn(on: .core(1)) {
                for sequence in 0..<Self.coreToCore {
                    core0.execute { ledger0.record(producer: Self.foreignThreads, sequence: sequence) }
                    if sequence % 1024 == 0 { await Task.yield() }
                }
            }
            let crossB = runtime.handle.spawn(on: .core(0)) {
                for sequence in 0..<Self.coreToCore {
                    core1.execute { ledger1.record(producer: 0, sequence: sequence) }
                    if sequence % 1024 == 0 { await Task.yield() }
                }
            }
            try await crossA.value
            try await crossB.value
            threadsDone.wait()

            let expected0 = Array(repeating: Self.perThread, count: Self.foreignThreads) + [Self.coreToCore]
            let deadline = ContinuousClock.now + .seconds(60)
            var counts0: [Int] = []
            var counts1: [Int] = []
            while ContinuousClock.now < deadline {
                counts0 = await core0.run { ledger0.counts }
                counts1 = await core1.run { ledger1.counts }
                if counts0 == expected0 && counts1 == [Self.coreToCore] { break }
                try await Task.sleep(for: .milliseconds(10))
            }
            #expect(counts0 == expected0)
            #expect(counts1 == [Self.coreToCore])
            let received0 = await core0.run { ledger0.received }
            let received1 = await core1.run { ledger1.received }
            #expect(received0 == Self.foreignThreads * Self.perThread + Self.coreToCore, "duplicates would inflate this")
            #expect(received1 == Self.coreToCore)
            #expect(await core0.run { ledger0.outOfOrder } == 0)
            #expect(await core1.run { ledger1.outOfOrder } == 0)
        }

        @Test("a parked core is woken by a foreign thread and by another core")
        func wakeFromPark() async throws {
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            let core1 = runtime.cores[1]
            for _ in 0..<200 {
                // Give core 1 time to park, then wake it from a plain thread...
                try await Task.sleep(for: .microseconds(200))
                let fromThread: Int? = await withCheckedContinuation { continuation in
                    Thread { core1.execute { continuation.resume(returning: Core.current?.index) } }.start()
                }
                #expect(fromThread == 1)
            }
            // ...and from core 0 (MSG_RING where the kernel has it).
            let fromCore = try await runtime.handle.spawn(on: .core(0)) { () -> [Int] in
                var seen: [Int] = []
                for _ in 0..<200 {
                    try await sleep(for: .microseconds(200))
                    seen.append(await core1.run { Core.current!.index })
                }
                return seen
            }.value
            #expect(fromCore == Array(repeating: 1, count: 200))
        }
    }
}
