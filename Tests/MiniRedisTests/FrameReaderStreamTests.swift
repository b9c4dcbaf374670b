import Dispatch
import MiniRedis
import Testing
import TorusTestSupport

@testable import Torus

/// `FrameReader<TCPStream>` has `nonisolated(nonsending)` read loops of its own (a connection's
/// reader, on the server and in the client): they must behave as the generic ones, from a task
/// on a core and from an actor on no core (where `TCPStream.read` receives on the task's core
/// and appends on the actor).
extension RuntimeSuite {
    @Suite("mini-redis: a connection's frame reader from tasks and actors")
    struct FrameReaderStreamTests {
        /// A serial executor on a dispatch queue: not a Torus core.
        final class QueueExecutor: SerialExecutor {
            let queue = DispatchQueue(label: "frames-not-on-a-core")
            func enqueue(_ job: consuming ExecutorJob) {
                let job = UnownedJob(job)
                queue.async { job.runSynchronously(on: self.asUnownedSerialExecutor()) }
            }
        }

        /// Owns a connection's reader, on no core.
        actor FramesOnQueue {
            let executor = QueueExecutor()
            nonisolated var unownedExecutor: UnownedSerialExecutor { executor.asUnownedSerialExecutor() }
            let reader: FrameReader<TCPStream>
            init(_ stream: TCPStream) { reader = FrameReader(stream, bufferSize: 64) }
            func frames(_ count: Int) async throws -> [Frame?] {
                var frames: [Frame?] = []
                for _ in 0..<count { frames.append(try await reader.readFrame()) }
                return frames
            }
            func request() async throws -> FrameParser.Request? { try await reader.readRequest() }
        }

        /// Frames sent in pieces of 7 bytes, one of them larger than the reader's 64-byte buffer.
        static let value = pseudoRandomBytes(1000, seed: 61)
        static let frames: [Frame] = [.simple("OK"), .bulk(value), .integer(-42), .array([.bulk("a"), .null])]

        static func sendInPieces(_ bytes: [UInt8], to stream: TCPStream) async throws {
            for start in stride(from: 0, to: bytes.count, by: 7) {
                try await stream.writeAll(IOBuffer(bytes[start..<min(start + 7, bytes.count)]))
            }
        }

        @Test("from a task and from an actor on no core: the same frames, a buffer grown for a large one, nil at a clean end")
        func framesFromTaskAndActor() async throws {
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            let encoded = Self.frames.flatMap(\.encoded)
            let (fromTask, fromActor) = try await runtime.handle.spawn(on: .core(1)) { () -> ([Frame?], [Frame?]) in
                let (client, server) = try await connectedPair()
                let sending = spawn {
                    try await Self.sendInPieces(encoded, to: client)
                    try await client.shutdown(.write)
                }
                let reader = FrameReader(server, bufferSize: 64)
                var fromTask: [Frame?] = []
                for _ in 0...Self.frames.count { fromTask.append(try await reader.readFrame()) }
                try await sending.value

                let (client2, server2) = try await connectedPair()
                let sending2 = spawn {
                    try await Self.sendInPieces(encoded, to: client2)
                    try await client2.shutdown(.write)
                }
                let fromActor = try await FramesOnQueue(server2).frames(Self.frames.count + 1)
                try await sending2.value
                for stream in [client, server, client2, server2] { try await stream.close() }
                return (fromTask, fromActor)
            }.value
            #expect(fromTask == Self.frames.map(Optional.some) + [nil])
            #expect(fromActor == fromTask)
        }

        /// Replies through a send queue from an actor on no core, with a writer of its own.
        actor Replier {
            let executor = QueueExecutor()
            nonisolated var unownedExecutor: UnownedSerialExecutor { executor.asUnownedSerialExecutor() }
            func reply(_ stream: TCPStream, queue: sending SendQueue) async throws {
                let writer = FrameWriter(stream)
                writer.queue(.simple("OK"))
                try await writer.flush(into: queue)
            }
        }

        @Test("a writer flushed into a send queue from an actor on no core: the queue is still used on its core")
        func flushIntoQueueFromActor() async throws {
            // FrameWriter.flush(into:) stays a plain `async` function (the server's session
            // calls a switch-free variant): made `nonisolated(nonsending)`, this trapped ("a send
            // queue is used on the core that made it").
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            let got = try await runtime.handle.spawn(on: .core(0)) { () -> [UInt8] in
                let (client, server) = try await connectedPair()
                let queue = try server.sendQueue()
                try await Replier().reply(server, queue: queue)
                let got = try await client.readExactly(5)
                try await client.close()
                try await server.close()
                return got
            }.value
            #expect(got == Array("+OK\r\n".utf8))
        }

        @Test("from an actor, a stream that ends inside a request is a protocol error")
        func endInsideRequestFromActor() async throws {
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            let outcome = try await runtime.handle.spawn(on: .core(0)) { () -> String in
                let (client, server) = try await connectedPair()
                try await client.writeAll("*2\r\n$3\r\nGET\r\n$5\r\nab")
                try await client.shutdown(.write)
                let outcome: String
                do {
                    outcome = "returned \(String(describing: try await FramesOnQueue(server).request()))"
                } catch let error as ProtocolError {
                    outcome = "\(error)"
                }
                try await client.close()
                try await server.close()
                return outcome
            }.value
            #expect(outcome.contains("middle of a frame"), "\(outcome)")
        }
    }
}
