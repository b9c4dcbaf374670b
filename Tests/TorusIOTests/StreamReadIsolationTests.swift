import Dispatch
import Foundation
import Glibc
import SystemPackage
import Testing
import TorusTestSupport

@testable import Torus

/// The stream reads (`TCPStream`, `UnixStream`, `ReadHalf`) are `nonisolated(nonsending)`, so
/// that a task on a core receives without an executor switch on the way in and out. Called
/// from an actor, the receive still runs on the task's core into a buffer of its own, and the
/// bytes are appended on the actor. Bytes taken from a stream cannot be put back, so these
/// tests check that no byte is lost or reordered whoever calls: an actor on no core, an actor
/// re-entered by a second read into its buffer, a cancelled read, a default actor shared by
/// tasks on both cores.
extension RuntimeSuite {
    @Suite("Stream reads from tasks and actors")
    struct StreamReadIsolationTests {
        /// The three stream readers, called directly (through `AsyncReader` a read is a plain
        /// `nonisolated async` call, to which an actor cannot hand its own buffer).
        enum Stream: Sendable {
            case tcp(TCPStream)
            case half(ReadHalf)
            case unix(UnixStream)
            nonisolated(nonsending) func read(into buffer: IOBuffer, maxLength: Int) async throws -> Int {
                switch self {
                case .tcp(let stream): try await stream.read(into: buffer, maxLength: maxLength)
                case .half(let half): try await half.read(into: buffer, maxLength: maxLength)
                case .unix(let stream): try await stream.read(into: buffer, maxLength: maxLength)
                }
            }
        }

        /// An actor whose jobs run on a dispatch queue (on no core), reading into a buffer it
        /// owns: a plain `nonisolated async` read refused such a buffer.
        actor ReaderOnQueue {
            let executor = CallerIsolationTests.QueueExecutor()
            nonisolated var unownedExecutor: UnownedSerialExecutor { executor.asUnownedSerialExecutor() }
            let buffer: IOBuffer
            init(capacity: Int) { buffer = IOBuffer(capacity: capacity) }

            /// Reads until `total` bytes are held (or the stream ends); the count of each read.
            func read(_ stream: Stream, until total: Int) async throws -> [Int] {
                var counts: [Int] = []
                while buffer.count < total {
                    let count = try await stream.read(into: buffer, maxLength: total - buffer.count)
                    if count == 0 { break }
                    counts.append(count)
                }
                return counts
            }
            func read(_ stream: TCPStream, maxLength: Int) async throws -> Int {
                try await stream.read(into: buffer, maxLength: maxLength)
            }
            func held() -> [UInt8] { buffer.bytes }
            func append(_ bytes: [UInt8]) { buffer.append(bytes) }
        }

        @Test("from an actor on no core: bytes appended after what the buffer held, in order; at most 1 MiB per read")
        func fromActorOffCore() async throws {
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            let message = pseudoRandomBytes((3 << 20) + 777, seed: 51)
            let (counts, held) = try await runtime.handle.spawn(on: .core(1)) { () -> ([Int], [UInt8]) in
                let (client, server) = try await connectedPair()
                let sending = spawn { try await client.writeAll(IOBuffer(message)) }
                let reader = ReaderOnQueue(capacity: message.count + 10)
                await reader.append([7, 7])
                let counts = try await reader.read(.tcp(server), until: message.count + 2)
                try await sending.value
                try await client.close()
                try await server.close()
                return (counts, await reader.held())
            }.value
            #expect(held == [7, 7] + message)
            #expect(counts.allSatisfy { $0 > 0 && $0 <= 1 << 20 }, "\(counts.max() ?? 0)")
        }

        @Test("from an actor, the read and write halves and a unix stream: every byte, in order")
        func halvesAndUnixStreamFromActor() async throws {
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            let message = pseudoRandomBytes(100_000, seed: 52)
            let (fromHalf, fromUnix) = try await runtime.handle.spawn(on: .core(0)) { () -> ([UInt8], [UInt8]) in
                let (client, server) = try await connectedPair()
                let (readHalf, _) = server.split()
                let sending = spawn { try await client.writeAll(IOBuffer(message)) }
                let halfReader = ReaderOnQueue(capacity: message.count)
                _ = try await halfReader.read(.half(readHalf), until: message.count)
                try await sending.value
                try await client.close()
                try await server.close()

                let directory = try makeTemporaryDirectory()
                defer { try? FileManager.default.removeItem(atPath: directory) }
                let listener = try UnixListener.bind(FilePath("\(directory)/s"))
                let accepting = spawn { try await listener.accept() }
                let unixClient = try await UnixStream.connect(to: FilePath("\(directory)/s"))
                let unixServer = try await accepting.value
                let unixSending = spawn { try await unixClient.writeAll(IOBuffer(message)) }
                let unixReader = ReaderOnQueue(capacity: message.count)
                _ = try await unixReader.read(.unix(unixServer), until: message.count)
                try await unixSending.value
                try await unixClient.close()
                try await unixServer.close()
                try await listener.close()
                return (await halfReader.held(), await unixReader.held())
            }.value
            #expect(fromHalf == message)
            #expect(fromUnix == message)
        }

        @Test("two reads into one actor's buffer at once: the second is refused with EBUSY and takes nothing; no byte lost")
        func secondReadIntoWaitingBuffer() async throws {
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            let (refusal, held) = try await runtime.handle.spawn(on: .core(0)) { () -> (String, [UInt8]) in
                let (client, server) = try await connectedPair()
                let reader = ReaderOnQueue(capacity: 64)
                // The first read waits (nothing sent yet); the second finds the buffer awaited.
                let first = spawn { try await reader.read(server, maxLength: 8) }
                try await Task.sleep(for: .milliseconds(50))
                var refusal = "no error"
                do {
                    _ = try await reader.read(server, maxLength: 8)
                } catch let error as IOError {
                    refusal = "\(error.operation) \(error.errno == .resourceBusy) \(error.address.map { "\($0)" } ?? "-")"
                }
                try await client.writeAll(IOBuffer(Array("abcdefghijkl".utf8)))
                let firstCount = try await first.value
                // The rest is still in the socket, for the next read: nothing was taken by the
                // refused one, nothing dropped.
                _ = try await reader.read(.tcp(server), until: 12)
                #expect(firstCount == 8)
                try await client.close()
                try await server.close()
                return (refusal, await reader.held())
            }.value
            #expect(refusal.hasPrefix("recv true 127.0.0.1:"), "\(refusal)")
            #expect(held == Array("abcdefghijkl".utf8))
        }

        @Test("a read from an actor cancelled while it waits throws and consumes nothing; the buffer can be read into again")
        func cancelledFromActor() async throws {
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            let (outcome, held) = try await runtime.handle.spawn(on: .core(1)) { () -> (String, [UInt8]) in
                let (client, server) = try await connectedPair()
                let reader = ReaderOnQueue(capacity: 64)
                let waiting = spawn { try await reader.read(server, maxLength: 64) }
                try await Task.sleep(for: .milliseconds(50))
                waiting.cancel()
                let outcome: String
                do { outcome = "returned \(try await waiting.value)" } catch is CancellationError { outcome = "cancelled" }
                try await client.writeAll(IOBuffer(Array("after".utf8)))
                _ = try await reader.read(.tcp(server), until: 5)
                try await client.close()
                try await server.close()
                return (outcome, await reader.held())
            }.value
            #expect(outcome == "cancelled")
            #expect(held == Array("after".utf8))
        }

        /// The same actor, calling the read through a plain `async` function value: Swift 6.3
        /// then runs the `nonisolated(nonsending)` read with no isolation but on the actor.
        actor FunctionValueReader {
            let executor = CallerIsolationTests.QueueExecutor()
            nonisolated var unownedExecutor: UnownedSerialExecutor { executor.asUnownedSerialExecutor() }
            func read(_ stream: TCPStream, count: Int) async throws -> [UInt8] {
                let read: @Sendable (IOBuffer, Int) async throws -> Int = stream.read(into:maxLength:)
                let buffer = IOBuffer(capacity: count)
                while buffer.count < count {
                    if try await read(buffer, count - buffer.count) == 0 { break }
                }
                return buffer.bytes
            }
        }

        /// An actor pinned to a core, calling through a function value, and reporting whether
        /// the runtime would take the inline path there.
        actor PinnedReader {
            let core: Core
            init(core: Core) { self.core = core }
            nonisolated var unownedExecutor: UnownedSerialExecutor { core.asUnownedSerialExecutor() }
            func read(_ stream: TCPStream, count: Int) async throws -> [UInt8] {
                let read: @Sendable (IOBuffer, Int) async throws -> Int = stream.read(into:maxLength:)
                let buffer = IOBuffer(capacity: count)
                while buffer.count < count {
                    if try await read(buffer, count - buffer.count) == 0 { break }
                }
                return buffer.bytes
            }
            func inlineWouldRun() -> Bool { Core.isTaskOnItsPreferredCore }
        }

        @Test("through a function value from an actor on no core or pinned to the other core: the read still runs on the task's core")
        func throughFunctionValue() async throws {
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            let message = pseudoRandomBytes(50_000, seed: 53)
            let (offCore, pinned, inlineOnPinned) = try await runtime.handle.spawn(on: .core(0)) { () -> ([UInt8], [UInt8], Bool) in
                let (client, server) = try await connectedPair()
                let sending = spawn {
                    try await client.writeAll(IOBuffer(message))
                    try await client.writeAll(IOBuffer(message))
                }
                let offCore = try await FunctionValueReader().read(server, count: message.count)
                let core1 = try await runtime.handle.spawn(on: .core(1)) { Core.current! }.value
                let pinnedReader = PinnedReader(core: core1)
                let pinned = try await pinnedReader.read(server, count: message.count)
                let inlineOnPinned = await pinnedReader.inlineWouldRun()
                try await sending.value
                try await client.close()
                try await server.close()
                return (offCore, pinned, inlineOnPinned)
            }.value
            #expect(offCore == message)
            #expect(pinned == message)
            // A task of core 0 on an actor of core 1: an operation submitted there would be
            // settled on core 0 (the trap of an earlier variant), so the inline path is refused.
            #expect(!inlineOnPinned)
        }

        @Test("where the inline path is taken: a task on its core, not an actor's thread of another core, not off the runtime")
        func inlinePathOnlyOnTheTaskCore() async throws {
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            let onCore = try await runtime.handle.spawn(on: .core(1)) { Core.isTaskOnItsPreferredCore }.value
            #expect(onCore)
            #expect(!Core.isTaskOnItsPreferredCore)  // the test's own task: no core
            let fromPinnedOnOwnCore = try await runtime.handle.spawn(on: .core(1)) { () -> Bool in
                await PinnedReader(core: Core.current!).inlineWouldRun()
            }.value
            // Its own core's actor: the same thread, the task's preference.
            #expect(fromPinnedOnOwnCore)
        }

        /// Reads a file into the buffer a stream read of the same actor waits to fill.
        actor FileAndStreamReader {
            let executor = CallerIsolationTests.QueueExecutor()
            nonisolated var unownedExecutor: UnownedSerialExecutor { executor.asUnownedSerialExecutor() }
            let buffer = IOBuffer(capacity: 16)
            func read(_ stream: TCPStream) async throws -> Int { try await stream.read(into: buffer, maxLength: 16) }
            func read(_ file: File) async throws -> Int { try await file.read(into: buffer, at: 0) }
            func held() -> [UInt8] { buffer.bytes }
        }

        @Test("a file read into the buffer a stream read from the same actor awaits: EBUSY naming the path; the stream's bytes all arrive")
        func fileReadIntoAwaitedBuffer() async throws {
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            let directory = try makeTemporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let path = "\(directory)/f"
            FileManager.default.createFile(atPath: path, contents: Data(repeating: 65, count: 64))
            let (refusal, streamCount, held) = try await runtime.handle.spawn(on: .core(0)) { () -> (String, Int, [UInt8]) in
                let (client, server) = try await connectedPair()
                let reader = FileAndStreamReader()
                let waiting = spawn { try await reader.read(server) }
                try await Task.sleep(for: .milliseconds(50))
                let file = try await File.open(FilePath(path))
                var refusal = "no error"
                do {
                    _ = try await reader.read(file)
                } catch let error as IOError {
                    refusal = "\(error.operation) \(error.errno == .resourceBusy) \(error.path.map { "\($0)" } ?? "-")"
                }
                try await client.writeAll(IOBuffer(Array("stream bytes".utf8)))
                let streamCount = try await waiting.value
                try await file.close()
                try await client.close()
                try await server.close()
                return (refusal, streamCount, await reader.held())
            }.value
            #expect(refusal == "read true \(path)")
            #expect(streamCount == 12 && held == Array("stream bytes".utf8))
        }

        /// A default actor shared by tasks on both cores: each call reads into a buffer of its
        /// own, from whichever core holds the actor.
        actor SharedReader {
            var reads = 0
            func readMessage(_ stream: TCPStream, count: Int) async throws -> [UInt8] {
                let buffer = IOBuffer(capacity: count)
                while buffer.count < count {
                    if try await stream.read(into: buffer, maxLength: count - buffer.count) == 0 { break }
                }
                reads += 1
                return buffer.bytes
            }
        }

        @Test("a default actor shared by tasks on both cores: every message read through it arrives whole and in order")
        func fromContendedActor() async throws {
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            let reader = SharedReader()
            let mismatches = try await withThrowingTaskGroup(of: Int.self) { group in
                for core in 0..<2 {
                    for connection in 0..<4 {
                        group.addTask {
                            try await runtime.handle.spawn(on: .core(core)) { () -> Int in
                                let (client, server) = try await connectedPair()
                                var mismatches = 0
                                for round in 0..<100 {
                                    let message = pseudoRandomBytes(1000 + round * 37, seed: UInt64(core * 1000 + connection * 100 + round))
                                    try await client.writeAll(IOBuffer(message))
                                    if try await reader.readMessage(server, count: message.count) != message { mismatches += 1 }
                                }
                                try await client.close()
                                try await server.close()
                                return mismatches
                            }.value
                        }
                    }
                }
                return try await group.reduce(0, +)
            }
            #expect(mismatches == 0)
            #expect(await reader.reads == 800)
        }
    }
}
