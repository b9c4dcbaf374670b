import Testing
import TorusTestSupport

@testable import Torus

extension RuntimeSuite.ProvidedBuffers {
    /// What one bundle test saw: the bytes in the order the chunks came out, the completions
    /// that filled several buffers, and the buffers still on loan at the end.
    struct BundleRun: Sendable {
        var received: [UInt8]
        var bundledCompletions: UInt64
        var onLoan: Int
        /// The kernel has bundles (6.10+): what RuntimeCapabilities reports.
        var kernelHasBundles: Bool
    }

    /// Sends `payload` from core 1 to a receiver on core 0 whose consumer holds up to 12 chunks
    /// and releases them in a scrambled order (so buffers go back to the ring out of order,
    /// and a bundle's later buffers are not the ids after its first).
    func bundleRun(bundles: Bool, payload: [UInt8]) async throws -> BundleRun {
        var configuration = RuntimeConfiguration(cores: .count(2), receiveBufferCount: 256, receiveBufferSize: 1024)
        configuration.receiveBundles = bundles
        let runtime = try Runtime(configuration)
        defer { runtime.shutdown(gracePeriod: .milliseconds(200)) }
        let kernelHasBundles = runtime.capabilities.cores[0].receiveBundles
        return try await runtime.handle.spawn(on: .core(0)) { () -> BundleRun in
            let listener = try TCPListener.bind(.loopback(port: 0))
            let address = try listener.localAddress
            let sending = spawn(on: .core(1)) {
                let client = try await TCPStream.connect(to: address)
                try await client.writeAll(IOBuffer(payload))
                try await client.close()
            }
            let connection = try await listener.accept()
            var generator = SeededGenerator(seed: 31)
            var held: [ReceivedBuffer] = []
            var received: [UInt8] = []
            received.reserveCapacity(payload.count)
            try await withTimeout(.seconds(20)) {
                var chunks = try connection.receivedChunks().makeAsyncIterator()
                while let chunk = try await chunks.next() {
                    received += chunk.bytes
                    held.append(chunk)
                    if held.count == 12 || Int(generator.next() % 5) == 0 {
                        held.shuffle(using: &generator)
                        held.removeLast(Int(generator.next() % UInt64(held.count)) + 1)
                    }
                    // Let bytes pile up in the socket now and then, so that one receive finds
                    // many buffers' worth.
                    if generator.next() % 16 == 0 { try await sleep(for: .milliseconds(2)) }
                }
            }
            held.removeAll()
            try await sending.value
            try await connection.close()
            try await listener.close()
            let pool = Core.current!.receiveBuffers
            return BundleRun(received: received, bundledCompletions: pool.bundledCompletions, onLoan: pool.lent, kernelHasBundles: kernelHasBundles)
        }.value
    }

    @Test("bundled receives over 1 KiB buffers returned out of order: every byte in order, several buffers per completion, every buffer back")
    func bundledReceivesKeepOrder() async throws {
        let payload = pseudoRandomBytes(2 << 20, seed: 32)
        let run = try await bundleRun(bundles: true, payload: payload)
        let difference = firstDifference(run.received, payload)
        #expect(
            difference == nil,
            "a bundle's chunks came out of the wrong buffers or in the wrong order: first difference at byte \(difference ?? 0) of \(payload.count) (\(run.received.count) received)"
        )
        if run.kernelHasBundles {
            #expect(run.bundledCompletions > 0, "no completion filled more than one buffer: bundles not in use")
        } else {
            #expect(run.bundledCompletions == 0, "bundles asked of a kernel without them")
        }
        #expect(run.onLoan == 0, "a bundled buffer never went back to the pool")
    }

    @Test("with receiveBundles off, one buffer per completion, and the same bytes")
    func bundlesOff() async throws {
        let payload = pseudoRandomBytes(1 << 20, seed: 33)
        let run = try await bundleRun(bundles: false, payload: payload)
        let difference = firstDifference(run.received, payload)
        #expect(difference == nil, "first difference at byte \(difference ?? 0) of \(payload.count)")
        #expect(run.bundledCompletions == 0)
        #expect(run.onLoan == 0)
    }
}
