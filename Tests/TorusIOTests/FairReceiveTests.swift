import Foundation
import Glibc
import Testing
import TorusTestSupport

@testable import Torus

extension RuntimeSuite.ProvidedBuffers {
    @Test("consumers that stopped reading hold a few provided buffers, not the pool: fresh connections are all served")
    func stuckConsumersDoNotStarveOthers() async throws {
        // 64 buffers of 4 KiB per core: one stuck connection could hold them all before.
        let runtime = try Runtime(RuntimeConfiguration(cores: .count(2), receiveBufferCount: 64, receiveBufferSize: 4096))
        defer { runtime.shutdown(gracePeriod: .milliseconds(200)) }
        let served = try await runtime.handle.spawn(on: .core(0)) { () -> Int in
            let listener = try TCPListener.bind(.loopback(port: 0), backlog: 256)
            let address = try listener.localAddress
            // Four connections whose consumers take one chunk and then never another, while
            // their peers keep sending (on core 1, so the flood does not wait on this core).
            var stuck: [JoinHandle<Void>] = []
            var floods: [JoinHandle<Void>] = []
            for _ in 0..<4 {
                floods.append(
                    spawn(on: .core(1)) {
                        let client = try await TCPStream.connect(to: address)
                        let chunk = IOBuffer(Array(repeating: 7, count: 64 << 10))
                        while true { try await client.writeAll(chunk) }
                    })
                let connection = try await listener.accept()
                stuck.append(
                    spawn {
                        var chunks = try connection.receivedChunks().makeAsyncIterator()
                        let first = try await chunks.next()
                        try await sleep(for: .seconds(3600))
                        _ = first
                    })
            }
            try await sleep(for: .milliseconds(200))
            // Ten fresh connections, each heard through the same core's pool.
            var served = 0
            for index in 0..<10 {
                let client = try await TCPStream.connect(to: address)
                let connection = try await listener.accept()
                try await client.writeAll("hello \(index)")
                let heard = try? await withTimeout(.seconds(2)) { () -> [UInt8]? in
                    for try await chunk in try connection.receivedChunks() { return chunk.bytes }
                    return nil
                }
                if heard == Array("hello \(index)".utf8) { served += 1 }
                try await client.close()
                try await connection.close()
            }
            for task in stuck + floods { task.cancel() }
            return served
        }.value
        #expect(served == 10)
    }
}

extension RuntimeSuite.ProvidedBuffers {
    @Test("with every provided buffer held (ENOBUFS) and no room to grow, a receive waits and is served as soon as buffers come back")
    func starvedReceiveWakesOnReturn() async throws {
        let runtime = try Runtime(
            RuntimeConfiguration(
                cores: .count(2), receiveBufferCount: 8, receiveBufferSize: 1024, receiveBufferLimit: 8))
        defer { runtime.shutdown(gracePeriod: .milliseconds(200)) }
        let (before, after) = try await runtime.handle.spawn(on: .core(0)) { () -> ([UInt8]?, [UInt8]?) in
            let listener = try TCPListener.bind(.loopback(port: 0))
            let address = try listener.localAddress
            // A consumer that keeps all 8 buffers: 8 messages, each its own receive.
            let hoarder = try await TCPStream.connect(to: address)
            let hoarded = try await listener.accept()
            var held: [ReceivedBuffer] = []
            var chunks = try hoarded.receivedChunks().makeAsyncIterator()
            for index in 0..<8 {
                try await hoarder.writeAll("message \(index)")
                guard let chunk = try await chunks.next() else { break }
                held.append(chunk)
            }
            #expect(held.count == 8)
            // Another connection speaks: no buffer for it.
            let client = try await TCPStream.connect(to: address)
            let connection = try await listener.accept()
            try await client.writeAll("hello")
            let heard = SharedCounter()
            let listening = spawn { () -> [UInt8]? in
                for try await chunk in try connection.receivedChunks() {
                    heard.increment()
                    return chunk.bytes
                }
                return nil
            }
            try await sleep(for: .milliseconds(300))
            let before: [UInt8]? = heard.value > 0 ? [] : nil
            // The buffers come back: the starved receive is armed again at once.
            held.removeAll()
            let after = try? await withTimeout(.seconds(2)) { try await listening.value }
            _ = chunks
            return (before, after ?? nil)
        }.value
        #expect(before == nil)
        #expect(after == Array("hello".utf8))
    }
}
