import Foundation
import Glibc
import Synchronization
import Testing
import TorusTestSupport

@testable import Torus

// Attacks on SharedDescriptor (review of "Descriptors held by their operations"): closes that
// race with operations the kernel cannot find by descriptor, with each other, with multishot
// loops on another core, and with reused numbers.

/// Set once a task has finished, so that a test can give up on it without awaiting it.
private final class Finished: Sendable {
    private let flag = Atomic<Bool>(false)
    func set() { flag.store(true, ordering: .releasing) }
    var isSet: Bool { flag.load(ordering: .acquiring) }
}

/// Runs `body` in a task on the current core and waits up to `limit` for it. If it has not
/// finished, records an issue and calls `unblock` (which must make it end, so the suite does not
/// hang), then waits for it anyway.
private func finishes<T: Sendable>(
    within limit: Duration, _ what: String,
    unblock: () async throws -> Void,
    _ body: sending @escaping () async throws -> T
) async throws -> T {
    let finished = Finished()
    let work = spawn { () async throws -> T in
        defer { finished.set() }
        return try await body()
    }
    let start = ContinuousClock.now
    while !finished.isSet && ContinuousClock.now - start < limit { try await sleep(for: .milliseconds(5)) }
    if !finished.isSet {
        Issue.record("\(what) did not finish within \(limit)")
        try await unblock()
    }
    return try await work.value
}

extension RuntimeSuite {
    @Suite("Descriptor close races")
    struct DescriptorCloseRaceTests {
        @Test("closing a file while another task splices an empty pipe into it ends the splice (it is not resubmitted after the cancel)")
        func closeEndsSpliceFromEmptyPipe() async throws {
            let directory = try makeTemporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let before = openFileAndSocketDescriptors()
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            let outcome = try await runtime.handle.spawn(on: .core(0)) { () -> String in
                let pipe = try PipePair()
                let file = try await File.open(FilePath(directory + "/out"), options: [.write, .create])
                // The pipe is empty: the splice waits in an io-wq worker for bytes to come.
                let splicing = spawn { () -> String in
                    do {
                        return "spliced \(try await file.splice(from: pipe, to: 0, length: 4096))"
                    } catch let error as IOError {
                        return "\(error.errno)"
                    }
                }
                try await sleep(for: .milliseconds(100))
                try await finishes(
                    within: .seconds(2), "close of a file with a splice waiting on an empty pipe",
                    unblock: {
                        // Give the splice its bytes, so that it (and the close) can end.
                        _ = Glibc.write(pipe.writeEnd.rawValue, "x", 1)
                    }
                ) { try await file.close() }
                return try await splicing.value
            }.value
            #expect(outcome != "spliced 1", "the splice was resubmitted after the close cancelled it, and waited for bytes")
            #expect(openFileAndSocketDescriptors() == before)
        }

        @Test("closing a file while another task splices it into a full pipe ends the splice")
        func closeEndsSpliceIntoFullPipe() async throws {
            let directory = try makeTemporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let path = directory + "/in"
            try Data(repeating: 7, count: 1 << 20).write(to: URL(fileURLWithPath: path))
            let before = openFileAndSocketDescriptors()
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            try await runtime.handle.spawn(on: .core(0)) { () -> Void in
                let pipe = try PipePair(capacity: 4096)
                let file = try await File.open(FilePath(path))
                // Fill the pipe, then splice more: that splice waits in an io-wq worker for room.
                #expect(try await file.splice(into: pipe, from: 0, length: pipe.capacity) == pipe.capacity)
                let splicing = spawn { () -> String in
                    do {
                        return "spliced \(try await file.splice(into: pipe, from: 0, length: 4096))"
                    } catch let error as IOError {
                        return "\(error.errno)"
                    } catch {
                        return "\(error)"
                    }
                }
                try await sleep(for: .milliseconds(100))
                try await finishes(
                    within: .seconds(2), "close of a file with a splice waiting for room in a pipe",
                    unblock: {
                        splicing.cancel()
                    }
                ) { try await file.close() }
                _ = await splicing.result
            }.value
            #expect(openFileAndSocketDescriptors() == before)
        }

        @Test("closing a listener from another core while its multishot accept loop iterates ends the loop; untaken connections are closed")
        func closeEndsMultishotAcceptLoopOnAnotherCore() async throws {
            let before = openFileAndSocketDescriptors()
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            let (served, ending) = try await runtime.handle.spawn(on: .core(0)) { () -> (Int, String) in
                let listener = try TCPListener.bind(.loopback(port: 0))
                let address = try listener.localAddress
                let looping = spawn { () -> (Int, String) in
                    var served = 0
                    do {
                        for try await connection in listener.connections {
                            served += 1
                            try await connection.close()
                        }
                        return (served, "ended")
                    } catch let error as IOError {
                        return (served, "\(error.errno)")
                    }
                }
                var clients: [TCPStream] = []
                for _ in 0..<3 { clients.append(try await TCPStream.connect(to: address)) }
                try await sleep(for: .milliseconds(50))
                try await finishes(within: .seconds(2), "close of a listener from core 1", unblock: { looping.cancel() }) {
                    try await Core.current!.shared.cores[1].run { try await listener.close() }
                }
                let result = try await finishes(within: .seconds(2), "the accept loop after its listener closed", unblock: { looping.cancel() }) {
                    try await looping.value
                }
                for client in clients { try await client.close() }
                return result
            }.value
            #expect(served == 3)
            // Ending with an error naming the closed listener is fine; hanging is not.
            #expect(["ended", "\(Errno.badFileDescriptor)", "\(Errno.invalidArgument)"].contains(ending), "\(ending)")
            #expect(openFileAndSocketDescriptors() == before)
        }

        @Test("many closes of one file from both cores at once, while reads are in flight: one close, no trap, no leak")
        func concurrentClosesFromBothCores() async throws {
            let directory = try makeTemporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let fifo = directory + "/fifo"
            #expect(mkfifo(fifo, 0o600) == 0)
            let before = openFileAndSocketDescriptors()
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            for _ in 0..<20 {
                try await runtime.handle.spawn(on: .core(0)) { () -> Void in
                    let file = try await File.open(FilePath(fifo), options: [.read, .write])
                    let cores = Core.current!.shared.cores
                    // Readers waiting on both cores.
                    let readers = (0..<4).map { index in
                        runtime.handle.spawn(on: .core(index % 2)) { () -> Bool in
                            do {
                                _ = try await file.read(into: IOBuffer(capacity: 8), maxLength: 8)
                                return false
                            } catch { return true }
                        }
                    }
                    try await sleep(for: .milliseconds(5))
                    let closers = (0..<6).map { index in
                        runtime.handle.spawn(on: .core(index % 2)) { try await cores[index % 2].run { try await file.close() } }
                    }
                    try await finishes(
                        within: .seconds(2), "concurrent closes",
                        unblock: {
                            for reader in readers { reader.cancel() }
                        }
                    ) {
                        for closer in closers { try await closer.value }
                        for reader in readers { #expect(try await reader.value) }
                    }
                }.value
            }
            #expect(openFileAndSocketDescriptors() == before)
        }

        @Test("a close on a running core while another core has already stopped (shutdown) does not touch the stopped core's ring")
        func closeWhileAnotherCoreHasStopped() async throws {
            let directory = try makeTemporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let path = directory + "/f"
            try Data("x".utf8).write(to: URL(fileURLWithPath: path))
            let runtime = try makeRuntime()
            try await runtime.handle.spawn(on: .core(0)) { () -> Void in
                // What shutdown does, core by core: core 1 leaves its loop first.
                Core.current!.shared.cores[1].send(.stop)
                try await sleep(for: .milliseconds(100))
                let file = try await File.open(FilePath(path))
                // Held as a copy on the blocking pool holds it, so the close must ask every
                // core to cancel what is in flight on the number: core 1's request is left in
                // its mailbox, and runs on another thread once the core is closed.
                #expect(file.sharedDescriptor.borrow() != nil)
                let closing = spawn { try await file.close() }
                try await sleep(for: .milliseconds(20))
                file.sharedDescriptor.giveBack()
                try await closing.value
            }.value
            await runtime.shutdown()
            // The request runs in a detached task: give it time to run (it trapped in
            // `assertOnCore` before the fix).
            try await Task.sleep(for: .milliseconds(200))
        }

        @Test("closing a UDP socket from the other core ends a receive waiting on it: no datagram is made up, nothing leaks")
        func closeEndsUDPReceive() async throws {
            let before = openFileAndSocketDescriptors()
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            let outcome = try await runtime.handle.spawn(on: .core(0)) { () -> String in
                let socket = try UDPSocket.bind(.loopback(port: 0))
                let receiving = spawn { () -> String in
                    do {
                        let (count, sender) = try await socket.receive(into: IOBuffer(capacity: 64))
                        return "received \(count) from \(sender.map { "\($0)" } ?? "nobody")"
                    } catch let error as IOError {
                        return "\(error.errno)"
                    }
                }
                try await sleep(for: .milliseconds(50))
                try await finishes(within: .seconds(2), "close of a UDP socket with a receive waiting", unblock: { receiving.cancel() }) {
                    try await Core.current!.shared.cores[1].run { try await socket.close() }
                }
                return try await receiving.value
            }.value
            #expect(!outcome.hasPrefix("received"), "a closed socket's waiting receive returned \(outcome)")
            #expect(openFileAndSocketDescriptors() == before)
        }

        @Test("closing the destination of a copyRange running on the blocking pool waits for the copy, which completes whole")
        func closeWaitsForCopyRangeOnThePool() async throws {
            let directory = try makeTemporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let size = 4 << 20
            try Data(pseudoRandomBytes(size, seed: 9)).write(to: URL(fileURLWithPath: directory + "/in"))
            let before = openFileAndSocketDescriptors()
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            let copied = try await runtime.handle.spawn(on: .core(0)) { () -> Int in
                let input = try await File.open(FilePath(directory + "/in"))
                let output = try await File.open(FilePath(directory + "/out"), options: [.write, .create, .truncate])
                let copying = spawn { try await input.copyRange(to: output, from: 0, to: 0, length: size) }
                await Task.yield()
                try await Core.current!.shared.cores[1].run { try await output.close() }
                let copied = try await copying.value
                try await input.close()
                return copied
            }.value
            #expect(copied > 0)
            let written = try Data(contentsOf: URL(fileURLWithPath: directory + "/out"))
            #expect(written.count == copied)
            #expect(written == Data(pseudoRandomBytes(size, seed: 9)).prefix(copied))
            #expect(openFileAndSocketDescriptors() == before)
        }

        @Test("the task iterating a stream's received chunks can close the stream itself (its own multishot holds the descriptor)")
        func closeFromTheIteratingTask() async throws {
            let before = openFileAndSocketDescriptors()
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            let after = try await runtime.handle.spawn(on: .core(0)) { () -> String in
                let listener = try TCPListener.bind(.loopback(port: 0))
                let accepting = spawn { try await listener.accept() }
                let client = try await TCPStream.connect(to: try listener.localAddress)
                let server = try await accepting.value
                try await listener.close()
                try await client.writeAll(Array("hello".utf8))
                var chunks = try server.receivedChunks().makeAsyncIterator()
                let first = try await chunks.next()
                #expect(first?.count == 5)
                // The receive stays armed (holding the descriptor) while this task closes.
                try await finishes(
                    within: .seconds(2), "close by the task whose iterator holds the descriptor",
                    unblock: {
                        try await client.close()
                    }
                ) { try await server.close() }
                let result: String
                do { result = try await chunks.next() == nil ? "ended" : "more bytes" } catch let error as IOError { result = "\(error.errno)" }
                try await client.close()
                return result
            }.value
            // Not "ended": the peer never closed; the stream was closed on this side.
            #expect(after == "\(Errno.canceled)" || after == "\(Errno.badFileDescriptor)", "\(after)")
            #expect(openFileAndSocketDescriptors() == before)
        }

        @Test("a close from outside the runtime (a plain task) still ends a FIFO read waiting on a core")
        func closeFromOffRuntimeEndsBlockedRead() async throws {
            let directory = try makeTemporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let fifo = directory + "/fifo"
            #expect(mkfifo(fifo, 0o600) == 0)
            let before = openFileAndSocketDescriptors()
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            let file = try await runtime.handle.spawn(on: .core(0)) { try await File.open(FilePath(fifo), options: [.read, .write]) }.value
            let readEnded = Finished()
            let reading = runtime.handle.spawn(on: .core(0)) { () -> String in
                defer { readEnded.set() }
                do { return "read \(try await file.read(into: IOBuffer(capacity: 8), maxLength: 8))" } catch let error as IOError {
                    return "\(error.errno)"
                }
            }
            try await Task.sleep(for: .milliseconds(50))
            // Swift's global executor: no core, no ring of its own.
            let closing = Task.detached { try await file.close() }
            let start = ContinuousClock.now
            while ContinuousClock.now - start < .seconds(2), !readEnded.isSet {
                try await Task.sleep(for: .milliseconds(10))
            }
            if !readEnded.isSet {
                Issue.record("a close from outside the runtime did not end the read waiting on core 0")
                let writer = open(fifo, O_WRONLY | O_NONBLOCK)
                _ = Glibc.write(writer, "x", 1)
                Glibc.close(writer)
            }
            try await closing.value
            #expect(try await reading.value == "\(Errno.canceled)")
            #expect(openFileAndSocketDescriptors() == before)
        }

        @Test("closing one File cancels nothing on another File sharing its open file description (two StandardStreams.input(), say)")
        func closeLeavesDuplicateAlone() async throws {
            let directory = try makeTemporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let fifo = directory + "/fifo"
            #expect(mkfifo(fifo, 0o600) == 0)
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            let other = try await runtime.handle.spawn(on: .core(0)) { () -> String in
                let first = try await File.open(FilePath(fifo), options: [.read, .write])
                // As StandardStreams does: a File on a duplicate (the same open file description).
                let second = File(descriptor: fcntl(first.descriptor.rawValue, F_DUPFD_CLOEXEC, 3), path: FilePath(fifo))
                let readingFirst = spawn { () -> Void in _ = try? await first.read(into: IOBuffer(capacity: 8), maxLength: 8) }
                let readingSecond = spawn { () -> String in
                    do { return "read \(try await second.read(into: IOBuffer(capacity: 8), maxLength: 8))" } catch let error as IOError {
                        return "\(error.errno)"
                    }
                }
                try await sleep(for: .milliseconds(50))
                try await first.close()
                _ = await readingFirst.result
                // The second file is open: its read should still be waiting, and get this byte.
                let writer = open(fifo, O_WRONLY | O_NONBLOCK)
                _ = Glibc.write(writer, "x", 1)
                Glibc.close(writer)
                let result = try await readingSecond.value
                try await second.close()
                return result
            }.value
            // IORING_ASYNC_CANCEL_FD matches the open file description, not the number: the
            // duplicate's read is cancelled too, and submitted again since its own File is open.
            #expect(other == "read 1", "a read on the duplicate ended with \(other) when the original was closed")
        }

        @Test("a multishot receive paused and re-armed many times, closed from the other core mid-stream: every borrow comes back, nothing leaks")
        func pausedMultishotReceiveClosedMidStream() async throws {
            let rounds = ProcessInfo.processInfo.environment["TORUS_STRESS"] != nil ? 300 : 20
            let before = openFileAndSocketDescriptors()
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            try await runtime.handle.spawn(on: .core(0)) { () -> Void in
                let listener = try TCPListener.bind(.loopback(port: 0))
                let address = try listener.localAddress
                for round in 0..<rounds {
                    let accepting = spawn { try await listener.accept() }
                    let client = try await TCPStream.connect(to: address)
                    let server = try await accepting.value
                    // The peer sends far more than the receive queue limit: the multishot
                    // receive pauses (is cancelled) and is armed again as the consumer reads.
                    let sending = spawn { () -> Void in try? await client.writeAll([UInt8](repeating: 1, count: 8 << 20)) }
                    let consuming = spawn { () -> Int in
                        var total = 0
                        do {
                            for try await chunk in try server.receivedChunks() {
                                total += chunk.count
                                if total % 3 == 0 { await Task.yield() }
                            }
                        } catch {}
                        return total
                    }
                    try await sleep(for: .milliseconds(round % 5))
                    try await finishes(
                        within: .seconds(2), "round \(round): close of a stream whose multishot receive pauses",
                        unblock: {
                            consuming.cancel()
                            try await client.close()
                        }
                    ) {
                        try await Core.current!.shared.cores[1].run { try await server.close() }
                    }
                    _ = await consuming.result
                    try await client.close()
                    _ = await sending.result
                }
                try await listener.close()
            }.value
            #expect(openFileAndSocketDescriptors() == before)
        }

        @Test("a TCP read waiting while another core closes the stream ends with an error, not a made-up end of stream")
        func closedStreamReadIsNotEndOfStream() async throws {
            let rounds = ProcessInfo.processInfo.environment["TORUS_STRESS"] != nil ? 500 : 40
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            let endsOfStream = try await runtime.handle.spawn(on: .core(0)) { () -> Int in
                let listener = try TCPListener.bind(.loopback(port: 0))
                let address = try listener.localAddress
                var endsOfStream = 0
                for _ in 0..<rounds {
                    let accepting = spawn { try await listener.accept() }
                    let client = try await TCPStream.connect(to: address)
                    let server = try await accepting.value
                    let reading = spawn { () -> Int? in try? await server.read(into: IOBuffer(capacity: 8), maxLength: 8) }
                    // The same through a multishot receive: iteration must not end quietly.
                    let iterating = spawn { () -> Bool in
                        var chunks = try server.receivedChunks().makeAsyncIterator()
                        return try await chunks.next() == nil
                    }
                    try await sleep(for: .milliseconds(1))
                    try await Core.current!.shared.cores[1].run { try await server.close() }
                    if case .success(0) = await reading.result { endsOfStream += 1 }
                    if case .success(true) = await iterating.result { endsOfStream += 1 }
                    try await client.close()
                }
                try await listener.close()
                return endsOfStream
            }.value
            #expect(
                endsOfStream == 0,
                "\(endsOfStream) of \(rounds) rounds, a read returned 0 or an iteration ended (end of stream) although the peer never closed")
        }

        @Test("reads on two cores while other tasks close and reopen files (numbers reused) never return another file's bytes")
        func readsNeverCrossReusedNumbers() async throws {
            let directory = try makeTemporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let fileCount = 8
            for index in 0..<fileCount {
                try Data(repeating: UInt8(index), count: 4096).write(to: URL(fileURLWithPath: directory + "/f\(index)"))
            }
            let rounds = ProcessInfo.processInfo.environment["TORUS_STRESS"] != nil ? 5000 : 300
            let before = openFileAndSocketDescriptors()
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            let wrong = try await runtime.handle.spawn(on: .core(0)) { () -> [String] in
                try await withThrowingTaskGroup(of: [String].self) { group in
                    for worker in 0..<fileCount {
                        let core = Core.current!.shared.cores[worker % 2]
                        group.addTask(executorPreference: core) {
                            var wrong: [String] = []
                            let path = FilePath(directory + "/f\(worker)")
                            for round in 0..<rounds {
                                let file = try await File.open(path, via: round % 2 == 0 ? .ring : .inline)
                                // A read racing the close below, from a task on the other core.
                                let other = Core.current!.shared.cores[(worker + 1) % 2]
                                let reading = Task(executorPreference: other) { () -> [UInt8]? in
                                    let buffer = IOBuffer(capacity: 4096)
                                    guard (try? await file.read(into: buffer, at: 0)) != nil else { return nil }
                                    return Array(buffer.bytes)
                                }
                                if round % 3 == 0 { await Task.yield() }
                                try await file.close(via: round % 2 == 0 ? .inline : .ring)
                                if let bytes = await reading.value, let stray = bytes.first(where: { $0 != UInt8(worker) }) {
                                    wrong.append("worker \(worker) round \(round): read byte \(stray)")
                                }
                            }
                            return wrong
                        }
                    }
                    var all: [String] = []
                    for try await wrong in group { all += wrong }
                    return all
                }
            }.value
            #expect(wrong.isEmpty, "\(wrong.prefix(5))")
            #expect(openFileAndSocketDescriptors() == before)
        }
    }
}
