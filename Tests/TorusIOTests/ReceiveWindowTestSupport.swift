import Testing

@testable import Torus

// Scaffolding the provided-buffer window suites share: many connections from core 1, bytes
// waiting in their sockets, and quiet turns for a window to shrink in.

/// `count` connections to `listener` made from core 1: the peers (core 1's) and the accepted
/// streams (the calling core's), in the order they connected.
func connectFromCoreOne(_ count: Int, to listener: TCPListener) async throws -> (peers: [TCPStream], streams: [TCPStream]) {
    let address = try listener.localAddress
    let peers = try await spawn(on: .core(1)) { () -> [TCPStream] in
        var peers: [TCPStream] = []
        for _ in 0..<count { peers.append(try await TCPStream.connect(to: address)) }
        return peers
    }.value
    var streams: [TCPStream] = []
    for _ in 0..<count { streams.append(try await listener.accept()) }
    return (peers, streams)
}

/// Each peer sends `size` bytes holding its index (mod 256), from core 1; returns once the
/// kernel has them all.
func sendIndexBytes(from peers: [TCPStream], size: Int) async throws {
    try await spawn(on: .core(1)) {
        for (index, peer) in peers.enumerated() {
            try await peer.writeAll(IOBuffer(Array(repeating: UInt8(truncatingIfNeeded: index), count: size)))
        }
    }.value
}

/// `turns` round trips of one byte on a new connection to `listener`, each its own receive on
/// the calling core: turns that take one buffer each, for a wide window to shrink in.
func oneByteTurns(_ turns: Int, on listener: TCPListener) async throws {
    let address = try listener.localAddress
    let pair = try await spawn(on: .core(1)) { try await TCPStream.connect(to: address) }.value
    let quiet = try await listener.accept()
    var chunks = try quiet.receivedChunks().makeAsyncIterator()
    let pinger = spawn(on: .core(1)) {
        let byte = IOBuffer([7])
        let reply = IOBuffer(capacity: 1)
        for _ in 0..<turns {
            try await pair.writeAll(byte)
            reply.clear()
            _ = try await pair.read(into: reply)
        }
        try await pair.close()
    }
    let reply = IOBuffer([8])
    while let chunk = try await chunks.next() {
        for _ in 0..<chunk.count { try await quiet.writeAll(reply) }
    }
    try await pinger.value
    try await quiet.close()
}
