import Foundation
import NIOCore
import NIOPosix
import Synchronization
import Torus

/// One TCP connection over loopback, 64 KiB writes, client on one core and server on the other.
struct TCPComparisons {
    let runtime: Runtime
    let loops: MultiThreadedEventLoopGroup
    let repetitions: Int
    let scale: Int

    var total: Int { (1 << 30) / scale }
    let chunk = 64 << 10

    func run() throws -> [Comparison] {
        let chunks = total / chunk
        // Interleaved: each repetition runs every variant once (this VM's speed drifts).
        var samples: [[Sample]] = [[], [], [], []]
        let variants: [() throws -> Void] = [
            { try torusTransfer(gather: 1) }, { try torusTransfer(gather: 8) }, { try nioTransfer(window: 8) },
            { try nioTransfer(window: 1) },
        ]
        for _ in 0..<max(1, repetitions) {
            for (index, variant) in variants.enumerated() {
                samples[index].append(try measure(operations: chunks, repetitions: 1, variant))
            }
        }
        let (torus, gathered, nio, nioAwaited) = (
            medianSample(samples[0]), medianSample(samples[1]), medianSample(samples[2]), medianSample(samples[3])
        )
        func rate(_ sample: Sample) -> String {
            String(format: "%.2f GiB/s, %.1f us CPU", Double(chunk) / sample.wallPerOp, sample.cpuPerOp / 1000)
        }
        return [
            Comparison(
                name: "TCP stream, 1 connection, 64 KiB writes, each awaited", unit: "ns/op", torus: torus.wallPerOp,
                peers: [("SwiftNIO, each write awaited (the wait is a thread hop)", nioAwaited.wallPerOp)],
                note: "per 64 KiB: Torus \(rate(torus)); NIO \(rate(nioAwaited))"),
            Comparison(
                name: "TCP stream, 1 connection, 8 x 64 KiB at a time", unit: "ns/op", torus: gathered.wallPerOp,
                peers: [("SwiftNIO, 8 writes in flight (its pipelined style)", nio.wallPerOp)],
                note: "Torus: one gathered write (`writeAll([IOBuffer])`); per 64 KiB: Torus \(rate(gathered)); NIO \(rate(nio))"),
        ]
    }

    /// Sends `total` bytes in 64 KiB buffers, `gather` of them per (gathered) write.
    func torusTransfer(gather: Int) throws {
        let total = self.total
        let chunk = self.chunk
        let received = try runtime.block(on: {
            let listener = try TCPListener.bind(.loopback(port: 0))
            let address = try listener.localAddress
            let server = spawn(on: .core(1)) { () -> Int in
                let connection = try await listener.accept()
                let buffer = IOBuffer(capacity: 256 << 10)
                var received = 0
                while received < total {
                    buffer.clear()
                    let n = try await connection.read(into: buffer)
                    if n == 0 { break }
                    received += n
                }
                return received
            }
            let client = try await TCPStream.connect(to: address)
            if gather == 1 {
                let data = IOBuffer(capacity: chunk).filledWithPattern()
                for _ in 0..<(total / chunk) { try await client.writeAll(data) }
            } else {
                // Separate buffers, as a program's pipelined writes would be.
                let group = (0..<gather).map { _ in IOBuffer(capacity: chunk).filledWithPattern() }
                for _ in 0..<(total / (chunk * gather)) { try await client.writeAll(group) }
            }
            let received = try await server.value
            try await client.close()
            try await listener.close()
            return received
        })
        precondition(received == total)
    }

    func nioTransfer(window: Int) throws {
        let total = self.total
        let done = loops.next().makePromise(of: Void.self)
        let server = try ServerBootstrap(group: loops)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.pipeline.addHandler(SinkHandler(total: total, done: done))
            }
            .bind(host: "127.0.0.1", port: 0).wait()
        let client = try ClientBootstrap(group: loops).connect(to: server.localAddress!).wait()
        var buffer = client.allocator.buffer(capacity: chunk)
        buffer.writeRepeatingByte(0x5A, count: chunk)
        let chunks = total / chunk
        var pending: [EventLoopFuture<Void>] = []
        for index in 0..<chunks {
            pending.append(client.writeAndFlush(buffer))
            if pending.count == window || index == chunks - 1 {
                try EventLoopFuture.andAllSucceed(pending, on: client.eventLoop).wait()
                pending.removeAll()
            }
        }
        try done.futureResult.wait()
        try client.close().wait()
        try server.close().wait()
    }
}

/// Counts bytes and completes `done` once `total` arrived.
final class SinkHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    let total: Int
    let done: EventLoopPromise<Void>
    var received = 0

    init(total: Int, done: EventLoopPromise<Void>) {
        self.total = total
        self.done = done
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        received += unwrapInboundIn(data).readableBytes
        if received >= total { done.succeed(()) }
    }
}

extension IOBuffer {
    func filledWithPattern() -> IOBuffer {
        _ = withUnsafeMutableBytes { $0.initializeMemory(as: UInt8.self, repeating: 0x5A) }
        count = capacity
        return self
    }
}
