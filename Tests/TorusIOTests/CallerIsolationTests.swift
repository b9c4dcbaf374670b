import Dispatch
import Testing
import Torus
import TorusTestSupport

/// Torus's reads and writes (`AsyncReader`, `AsyncWriter`, the streams, files and buffered
/// readers and writers) are plain `nonisolated async` functions: whatever actor calls them,
/// they run on the calling task's core (its executor preference). Only the internal I/O
/// functions below them are `nonisolated(nonsending)`, and the reads that check their caller's
/// isolation (`File.read(into:at:maxLength:)`: FileReadIsolationTests; the stream reads:
/// StreamReadIsolationTests). These tests pin down what that means for a caller that is not a
/// plain task on a core.
extension RuntimeSuite {
    @Suite("I/O runs on the calling task's core")
    struct CallerIsolationTests {
        /// A default actor used from a task on a core runs on that core (Swift runs it on the
        /// task's preferred executor), so its I/O stays there too.
        actor Echoer {
            var echoed = 0
            func echo(_ stream: TCPStream) async throws -> Int? {
                let buffer = IOBuffer(capacity: 64)
                let count = try await stream.read(into: buffer)
                try await stream.writeAll(buffer)
                echoed += count
                return Core.current?.index
            }
        }

        /// A serial executor on a dispatch queue: not a Torus core.
        final class QueueExecutor: SerialExecutor {
            let queue = DispatchQueue(label: "not-a-core")
            func enqueue(_ job: consuming ExecutorJob) {
                let job = UnownedJob(job)
                queue.async { job.runSynchronously(on: self.asUnownedSerialExecutor()) }
            }
        }

        /// An actor whose executor is a dispatch queue.
        actor OnQueue {
            let executor = QueueExecutor()
            nonisolated var unownedExecutor: UnownedSerialExecutor { executor.asUnownedSerialExecutor() }
            func read(_ stream: TCPStream) async throws -> Int {
                let buffer = IOBuffer(capacity: 16)
                var count = 0
                while count < 4 { count += try await stream.read(into: buffer, maxLength: 4 - count) }
                return count
            }
        }

        @Test("an actor running on a core does its I/O on that core, without leaving it")
        func actorOnCore() async throws {
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            let outcome = try await runtime.handle.spawn(on: .core(1)) { () -> (Int?, [UInt8]) in
                let (client, server) = try await connectedPair()
                try await client.writeAll(IOBuffer(Array("ping".utf8)))
                let echoer = Echoer()
                let core = try await echoer.echo(server)
                let back = try await client.readExactly(4)
                try await client.close()
                try await server.close()
                return (core, back)
            }.value
            #expect(outcome.0 == 1)
            #expect(outcome.1 == Array("ping".utf8))
        }

        @Test("from an actor on an executor of its own, a read still runs on the task's core and returns the bytes")
        func actorOffCore() async throws {
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            let count = try await runtime.handle.spawn(on: .core(0)) { () -> Int in
                let (client, server) = try await connectedPair()
                try await client.writeAll(IOBuffer(Array("kept".utf8)))
                let count = try await OnQueue().read(server)
                try await client.close()
                try await server.close()
                return count
            }.value
            #expect(count == 4)
        }
    }
}
