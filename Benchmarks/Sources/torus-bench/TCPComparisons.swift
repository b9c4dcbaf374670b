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
        let torus = try measure(operations: chunks, repetitions: repetitions) { try torusTransfer() }
        let nio = try measure(operations: chunks, repetitions: repetitions) { try nioTransfer(window: 8) }
        let nioAwaited = try measure(operations: chunks, repetitions: repetitions) { try nioTransfer(window: 1) }
        return [
            Comparison(
                name: "TCP stream, 1 connection, 64 KiB writes", unit: "ns/op", torus: torus.wallPerOp,
                peers: [
                    ("SwiftNIO, 8 writes in flight (its pipelined style)", nio.wallPerOp),
                    ("SwiftNIO, each write awaited (Torus's pattern; the wait is a thread hop)", nioAwaited.wallPerOp),
                ],
                note: String(
                    format: "Torus %.2f GiB/s, %.1f us CPU per 64 KiB; NIO %.2f GiB/s, %.1f us CPU",
                    Double(chunk) / torus.wallPerOp, torus.cpuPerOp / 1000, Double(chunk) / nio.wallPerOp, nio.cpuPerOp / 1000))
        ]
    }

    func torusTransfer() throws {
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
            let data = IOBuffer(capacity: chunk).filledWithPattern()
            for _ in 0..<(total / chunk) { try await client.writeAll(data) }
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
