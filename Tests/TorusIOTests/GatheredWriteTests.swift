import Foundation
import Testing
import TorusTestSupport

@testable import Torus

// Gathered writes (`AsyncGatheringWriter`: one `sendmsg` with an iovec per buffer) on real
// loopback sockets: every byte arrives once and in order, whatever the split, the offset or
// the number of buffers; a deadline leaves a count to resume from; errors name `sendmsg` and
// the peer.

/// `bytes` cut into buffers of the given sizes (the last takes the rest).
private func buffers(of bytes: [UInt8], sizes: [Int]) -> [IOBuffer] {
    var result: [IOBuffer] = []
    var start = 0
    for size in sizes {
        result.append(IOBuffer(Array(bytes[start..<start + size])))
        start += size
    }
    result.append(IOBuffer(Array(bytes[start...])))
    return result
}

extension RuntimeSuite {
    @Suite("Gathered writes")
    struct GatheredWriteTests {
        @Test("writeAll of buffers sends their bytes in order, across empty buffers, over TCP and a unix socket")
        func sendsEveryBufferInOrder() async throws {
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            let payload = pseudoRandomBytes(300_000, seed: 11)
            let pieces = buffers(of: payload, sizes: [0, 1, 70_000, 0, 4096, 3, 100_000])
            let (overTCP, overUnix) = try await runtime.handle.spawn(on: .core(0)) { () -> ([UInt8], [UInt8]) in
                let (client, server) = try await connectedPair()
                let reading = spawn(on: .core(1)) { try await server.readExactly(payload.count) }
                try await client.writeAll(pieces)
                let overTCP = try await reading.value
                try await client.close()
                try await server.close()

                let directory = try makeTemporaryDirectory()
                defer { try? FileManager.default.removeItem(atPath: directory) }
                let listener = try UnixListener.bind(.init(directory + "/socket"))
                let accepting = spawn { try await listener.accept() }
                let unixClient = try await UnixStream.connect(to: listener.path)
                let unixServer = try await accepting.value
                let (_, writeHalf) = unixClient.split()
                let unixReading = spawn(on: .core(1)) { try await unixServer.readExactly(payload.count) }
                try await writeHalf.writeAll(pieces)
                let overUnix = try await unixReading.value
                try await unixClient.close()
                try await unixServer.close()
                try await listener.close()
                return (overTCP, overUnix)
            }.value
            #expect(firstDifference(overTCP, payload) == nil, "over TCP")
            #expect(firstDifference(overUnix, payload) == nil, "over a unix socket")
        }

        @Test("a write from an offset inside the third buffer sends the bytes from exactly there")
        func writesFromAnOffset() async throws {
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            let payload = pseudoRandomBytes(10_000, seed: 12)
            let pieces = buffers(of: payload, sizes: [100, 0, 2000])
            let offset = 1234
            let (sent, received, nothing) = try await runtime.handle.spawn(on: .core(0)) { () -> (Int, [UInt8], Int) in
                let (client, server) = try await connectedPair()
                let sent = try await client.write(pieces, from: offset)
                let received = try await server.readExactly(sent)
                let nothing = try await client.write(pieces, from: payload.count)
                try await client.close()
                try await server.close()
                return (sent, received, nothing)
            }.value
            #expect(sent == payload.count - offset)
            #expect(firstDifference(received, Array(payload[offset...])) == nil)
            #expect(nothing == 0, "a write from the end sent something")
        }

        @Test("more buffers than one sendmsg takes (1,024) all go out, in order")
        func moreBuffersThanOneCallTakes() async throws {
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            let payload = pseudoRandomBytes(3000 * 7, seed: 13)
            let pieces = buffers(of: payload, sizes: Array(repeating: 7, count: 2999))
            let (firstCall, received) = try await runtime.handle.spawn(on: .core(0)) { () -> (Int, [UInt8]) in
                let (client, server) = try await connectedPair()
                let reading = spawn(on: .core(1)) { try await server.readExactly(payload.count) }
                let firstCall = try await client.write(pieces, from: 0)
                var written = firstCall
                try await client.writeAll(pieces, written: &written)
                let received = try await reading.value
                try await client.close()
                try await server.close()
                return (firstCall, received)
            }.value
            #expect(firstCall == GatheredMessage.maximumVectors * 7, "one call did not take exactly the first 1,024 buffers")
            #expect(firstDifference(received, payload) == nil)
        }

        @Test("writeAll(_:written:) of buffers stopped by a deadline says how far it got; resuming sends the rest, no byte twice")
        func resumableGatheredWriteAll() async throws {
            let payload = pseudoRandomBytes(2 << 20, seed: 14)
            let pieces = buffers(of: payload, sizes: (1...36).map { $0 * 1500 })
            let run = try await writeStoppedByDeadlineThenResumed(payload) { client, written in
                try await client.writeAll(pieces, written: &written)
            }
            #expect(run.stopped == "TimeoutError")
            #expect(run.writtenAtTimeout > 0 && run.writtenAtTimeout < payload.count, "the write was not stopped halfway")
            #expect(firstDifference(run.received, payload) == nil, "resuming from `written` sent a byte twice or skipped one")
        }

        @Test("a write from a negative offset stops the process (it would send the heap bytes before the buffer); one from the end sends nothing")
        func negativeOffsetTraps() async throws {
            await #expect(processExitsWith: .failure) {
                let runtime = try makeRuntime()
                try await runtime.handle.spawn(on: .core(0)) {
                    let (client, _) = try await connectedPair()
                    _ = try await client.write(IOBuffer(pseudoRandomBytes(64, seed: 16)), from: -32)
                }.value
            }
            await #expect(processExitsWith: .failure) {
                let runtime = try makeRuntime()
                try await runtime.handle.spawn(on: .core(0)) {
                    let (client, _) = try await connectedPair()
                    _ = try await client.write([IOBuffer(pseudoRandomBytes(64, seed: 16))], from: -1)
                }.value
            }
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            let sent = try await runtime.handle.spawn(on: .core(0)) { () -> Int in
                let (client, server) = try await connectedPair()
                let sent = try await client.write(IOBuffer(pseudoRandomBytes(64, seed: 16)), from: 64)
                try await client.close()
                try await server.close()
                return sent
            }.value
            #expect(sent == 0)
        }

        @Test("a gathered write to a closed peer, or on a closed stream, fails naming sendmsg and the peer")
        func errorsNameTheOperationAndPeer() async throws {
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            let (peerClosed, streamClosed, peer) = try await runtime.handle.spawn(on: .core(0)) { () -> (IOError?, IOError?, SocketAddress) in
                let (client, server) = try await connectedPair()
                let peer = try client.peerAddress
                try await server.close()
                let pieces = [IOBuffer(pseudoRandomBytes(64 << 10, seed: 15)), IOBuffer([1, 2, 3])]
                var peerClosed: IOError?
                // The first writes may still be accepted; the peer's reset ends the next ones.
                for _ in 0..<100 where peerClosed == nil {
                    do { try await client.writeAll(pieces) } catch let error as IOError { peerClosed = error }
                }
                try await client.close()
                var streamClosed: IOError?
                do { try await client.writeAll(pieces) } catch let error as IOError { streamClosed = error }
                return (peerClosed, streamClosed, peer)
            }.value
            let reset = try #require(peerClosed, "writing to a closed peer never failed")
            #expect(reset.operation == "sendmsg")
            #expect(reset.isBrokenPipe || reset.isConnectionReset, "\(reset)")
            #expect(reset.address == peer)
            #expect("\(reset)".contains("sendmsg"))
            let closed = try #require(streamClosed, "writing on a closed stream did not fail")
            #expect(closed.operation == "sendmsg")
            #expect(closed.errno == .badFileDescriptor)
        }
    }
}
