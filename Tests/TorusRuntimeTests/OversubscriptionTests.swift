import Foundation
import Synchronization
import Testing
import TorusTestSupport

@testable import Torus

extension RuntimeSuite {
    @Suite("Oversubscribed: more cores than CPUs")
    struct OversubscriptionTests {
        @Test(
            "8 and 16 cores on this machine: producers on every core feed one select loop; nothing lost, shutdown prompt",
            arguments: [8, 16])
        func manyCoresFewCPUs(cores: Int) async throws {
            let runtime = try Runtime(RuntimeConfiguration(cores: .count(cores)))
            let perProducer = ownershipTestValues / 10
            let producers = cores - 1
            let (received, ticks) = try await runtime.handle.spawn(on: .core(0)) { () -> ([(producer: Int, sequence: Int)], Int) in
                let (tx, rx) = MPSC.bounded((producer: Int, sequence: Int).self, capacity: 32)
                for producer in 0..<producers {
                    let sender = tx.clone()
                    spawn(on: .core(producer + 1)) {
                        for sequence in 0..<perProducer { try await sender.send((producer, sequence)) }
                        sender.finish()
                    }
                }
                tx.finish()
                var received: [(producer: Int, sequence: Int)] = []
                var ticks = 0
                var i = 0
                while true {
                    i += 1
                    let done: Bool = try await select(
                        .receive(from: rx) { value in
                            guard let value else { return true }
                            received.append(value)
                            return false
                        },
                        .sleep(for: tick(i)) {
                            ticks += 1
                            return false
                        })
                    if done { break }
                }
                return (received, ticks)
            }.value
            expectExactlyOnceInOrder(received, producers: producers, perProducer: perProducer)
            // Tasks left sleeping on every core: shutdown must cancel them and stop every core.
            for core in 0..<cores { _ = runtime.handle.spawn(on: .core(core)) { try await sleep(for: .seconds(30)) } }
            let start = ContinuousClock.now
            let report = await runtime.shutdown(gracePeriod: .milliseconds(50))
            #expect(report.cancelledTasks == cores)
            #expect(ContinuousClock.now - start < .seconds(2))
            _ = ticks
        }
    }
}
