import Glibc

@testable import Torus

// Shared by the send-queue and forwarding suites.

/// Sets `SO_SNDBUF` and `SO_RCVBUF` (the kernel doubles them and keeps a minimum), so that the
/// queue, not the socket, holds a backlog.
func setSocketBuffers(_ stream: TCPStream, send: Int32? = nil, receive: Int32? = nil) throws {
    try stream.handle.withDescriptor { fd in
        if var send { setsockopt(fd.rawValue, SOL_SOCKET, SO_SNDBUF, &send, socklen_t(MemoryLayout<Int32>.size)) }
        if var receive { setsockopt(fd.rawValue, SOL_SOCKET, SO_RCVBUF, &receive, socklen_t(MemoryLayout<Int32>.size)) }
    }
}

/// Writes `bytes` through `relay`, takes them back as received chunks from `chunks` (the other
/// end's), and queues the chunks, batch by batch, without a copy.
func queueRelayed(_ bytes: [UInt8], through relay: TCPStream, chunks: inout ReceivedChunks.Iterator, into queue: SendQueue) async throws {
    try await relay.writeAll(bytes)
    var got = 0
    while got < bytes.count {
        let batch = try await chunks.nextBatch()
        got += batch.reduce(0) { $0 + $1.count }
        try await queue.send(batch)
    }
}
