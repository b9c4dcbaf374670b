// The SwiftNIO echo server torus-echo's bench compares against: one event loop (pin it with
// taskset), the canonical EchoHandler, stops on SIGTERM/SIGINT.
//
//   nio-echo-server --port P [--host H] [--threads N]
import Dispatch
import Foundation
import NIOCore
import NIOPosix

final class EchoHandler: ChannelInboundHandler, Sendable {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        context.write(data, promise: nil)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        context.flush()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}

var host = "127.0.0.1"
var port = 0
var threads = 1
var arguments = CommandLine.arguments.dropFirst().makeIterator()
while let argument = arguments.next() {
    switch argument {
    case "--host": host = arguments.next() ?? host
    case "--port": port = Int(arguments.next() ?? "") ?? port
    case "--threads": threads = Int(arguments.next() ?? "") ?? threads
    default:
        FileHandle.standardError.write(Data("usage: nio-echo-server --port P [--host H] [--threads N]\n".utf8))
        exit(64)
    }
}

let group = MultiThreadedEventLoopGroup(numberOfThreads: threads)
let channel = try ServerBootstrap(group: group)
    .serverChannelOption(ChannelOptions.backlog, value: 4096)
    .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
    .childChannelOption(ChannelOptions.socketOption(.tcp_nodelay), value: 1)
    .childChannelInitializer { channel in channel.pipeline.addHandler(EchoHandler()) }
    .bind(host: host, port: port).wait()
FileHandle.standardOutput.write(Data("listening on \(host):\(channel.localAddress!.port!)\n".utf8))

let stop = DispatchSemaphore(value: 0)
var sources: [any DispatchSourceSignal] = []
for number in [SIGINT, SIGTERM] {
    signal(number, SIG_IGN)
    let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
    // @Sendable: a closure written in top-level code is otherwise main-actor isolated, and
    // Swift 6 traps when Dispatch runs it on a global queue.
    source.setEventHandler { @Sendable in stop.signal() }
    source.resume()
    sources.append(source)
}
stop.wait()
try channel.close().wait()
try group.syncShutdownGracefully()
FileHandle.standardOutput.write(Data("stopped\n".utf8))
