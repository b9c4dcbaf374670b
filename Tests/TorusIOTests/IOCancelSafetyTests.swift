import Foundation
import Synchronization
import Testing
import TorusTestSupport

@testable import Torus
@testable import TorusChannels

// Proofs of the `Cancel safety:` notes of the I/O, time and synchronization APIs: each test
// cancels a wait (by cancelling its task or by a `withTimeout` deadline, which cancels ring
// operations in the kernel the same way) and then checks that what the note promises holds:
// no byte, datagram, connection, permit or lock is lost, and no descriptor or ring operation
// is left behind.

/// How a wait ended, as the tests compare it: the error's type, or "returned".
private func outcome(_ body: () async throws -> Void) async -> String {
    do {
        try await body()
        return "returned"
    } catch {
        return "\(type(of: error))"
    }
}

/// A resumable write of `payload` over loopback with small socket buffers: the first call,
/// with nobody reading, is stopped by a 30 ms deadline; then a reader starts on the other core
/// and the same call resumes from `written`. Returns how the first call ended, `written` at
/// that point, and every byte the reader got.
func writeStoppedByDeadlineThenResumed(
    _ payload: [UInt8], write: sending @escaping (TCPStream, inout Int) async throws -> Void
) async throws -> (stopped: String, writtenAtTimeout: Int, received: [UInt8]) {
    let runtime = try makeRuntime()
    defer { runtime.shutdown() }
    return try await runtime.handle.spawn(on: .core(0)) { () -> (String, Int, [UInt8]) in
        let (client, server) = try await connectedPair()
        // Small socket buffers, so that the write waits long before the payload is out.
        try client.handle.setOption(SOL_SOCKET, SO_SNDBUF, 64 << 10, operation: "setsockopt(SO_SNDBUF)")
        try server.handle.setOption(SOL_SOCKET, SO_RCVBUF, 64 << 10, operation: "setsockopt(SO_RCVBUF)")
        var written = 0
        // Nobody reads yet: the socket buffers fill and the write waits until the deadline.
        let stopped = await outcome {
            try await withTimeout(.milliseconds(30)) { try await write(client, &written) }
        }
        let writtenAtTimeout = written
        let reading = spawn(on: .core(1)) { try await server.readExactly(payload.count) }
        try await withTimeout(.seconds(5)) { try await write(client, &written) }
        let received = try await reading.value
        try await client.close()
        try await server.close()
        return (stopped, writtenAtTimeout, received)
    }.value
}

/// Runs `body` in a task on the caller's core and cancels it after `limit`: a wait that a
/// regression makes hang ends as a `CancellationError` (which the test then sees as the wrong
/// outcome) instead of hanging the suite.
private func withWatchdog<T: Sendable>(
    _ limit: Duration = .seconds(2), _ body: sending @escaping () async throws -> T
) async throws -> T {
    let work = spawn(body)
    let watchdog = spawn {
        try await sleep(for: limit)
        work.cancel()
    }
    defer { watchdog.cancel() }
    return try await work.value
}

/// The kinds of stop the racing loops alternate between.
private enum Stop { case deadline, taskCancel }

extension RuntimeSuite {
    @Suite("I/O cancel safety")
    struct IOCancelSafetyTests {
        // MARK: TCP

        @Test("a TCP read cancelled by its task or by a deadline consumes nothing: bytes sent later are read whole")
        func tcpReadCancelled() async throws {
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            let (outcomes, received, inFlight) = try await runtime.handle.spawn(on: .core(0)) { () -> ([String], [UInt8], Int) in
                let (client, server) = try await connectedPair()
                let reading = spawn { _ = try await client.read(into: IOBuffer(capacity: 64)) }
                try await sleep(for: .milliseconds(5))  // the read waits in the kernel
                reading.cancel()
                var outcomes = [await outcome { try await reading.value }]
                outcomes.append(
                    await outcome {
                        _ = try await withTimeout(.milliseconds(10)) { try await client.read(into: IOBuffer(capacity: 64)) }
                    })
                let message = Array("every byte of this arrives".utf8)
                try await server.writeAll(message)
                let buffer = IOBuffer(capacity: 64)
                try await withTimeout(.seconds(2)) { try await client.readExactly(message.count, into: buffer) }
                let inFlight = Core.current!.driver.operations.inFlight
                try await client.close()
                try await server.close()
                return (outcomes, buffer.bytes, inFlight)
            }.value
            #expect(outcomes == ["CancellationError", "TimeoutError"])
            #expect(received == Array("every byte of this arrives".utf8))
            #expect(inFlight == 0, "the cancelled reads are gone from the ring")
        }

        @Test("TCP reads stopped by 0-100 us deadlines or task cancellations while bytes arrive receive every byte once, in order")
        func tcpReadsRacingCancellation() async throws {
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            let sent = pseudoRandomBytes(6_000, seed: 12)
            let (received, stopped, misreported) = try await runtime.handle.spawn(on: .core(0)) { () -> ([UInt8], Int, Int) in
                let (client, server) = try await connectedPair()
                let writer = spawn(on: .core(1)) {
                    var offset = 0
                    var i = 0
                    while offset < sent.count {
                        i += 1
                        let n = min(1 + (i &* 13) % 97, sent.count - offset)
                        try await server.writeAll(sent[offset..<offset + n])
                        offset += n
                        try await sleep(for: tick(i))
                    }
                }
                var received: [UInt8] = []
                var stopped = 0
                var misreported = 0
                let giveUp = ContinuousClock.now + .seconds(3)
                var i = 0
                while received.count < sent.count && ContinuousClock.now < giveUp {
                    i += 1
                    switch i % 2 == 0 ? Stop.deadline : Stop.taskCancel {
                    case .deadline:
                        let buffer = IOBuffer(capacity: 128)
                        do {
                            _ = try await withTimeout(tick(i)) { try await client.read(into: buffer) }
                        } catch is TimeoutError {
                            stopped += 1
                            // Bytes in the buffer with a thrown error would be bytes the caller
                            // was told it did not get.
                            if buffer.count != 0 { misreported += 1 }
                        }
                        received += buffer.bytes
                    case .taskCancel:
                        let reading = spawn { () -> [UInt8] in
                            let buffer = IOBuffer(capacity: 128)
                            _ = try await client.read(into: buffer)
                            return buffer.bytes
                        }
                        try await sleep(for: tick(i))
                        reading.cancel()
                        do { received += try await reading.value } catch is CancellationError { stopped += 1 }
                    }
                }
                try await writer.value
                try await client.close()
                try await server.close()
                return (received, stopped, misreported)
            }.value
            #expect(received.count == sent.count)
            #expect(received == sent, "a byte was lost, duplicated or reordered")
            #expect(stopped > 0, "no read was stopped: the test did not exercise cancellation")
            #expect(misreported == 0)
        }

        @Test("accepts under 0-100 us deadlines lose no connection; cancelled accepts leak no descriptor")
        func acceptsRacingCancellation() async throws {
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            let clients = 24
            let before = openFileAndSocketDescriptors()
            let (ids, timeouts, cancelled) = try await runtime.handle.spawn(on: .core(0)) { () -> ([UInt8], Int, Int) in
                let listener = try TCPListener.bind(.loopback(port: 0))
                let address = try listener.localAddress
                // Clients connect at staggered moments, each sending its number, so that some
                // arrive just as an accept's deadline passes.
                let connecting = spawn(on: .core(1)) { () -> [TCPStream] in
                    var streams: [TCPStream] = []
                    for id in 0..<clients {
                        let stream = try await TCPStream.connect(to: address)
                        try await stream.writeAll([UInt8(id)])
                        streams.append(stream)
                        try await sleep(for: tick(id * 7))
                    }
                    return streams
                }
                // Under a deadline an accept the kernel completed is returned, never closed:
                // every client must be accepted.
                var accepted: [TCPStream] = []
                var timeouts = 0
                let giveUp = ContinuousClock.now + .seconds(3)
                var i = 0
                while accepted.count < clients && ContinuousClock.now < giveUp {
                    i += 1
                    do {
                        accepted.append(try await withTimeout(tick(i)) { try await listener.accept() })
                    } catch is TimeoutError {
                        timeouts += 1
                    }
                }
                var ids: [UInt8] = []
                for stream in accepted { ids += try await withTimeout(.seconds(1)) { try await stream.readExactly(1) } }
                // Cancelled accepts, some racing a connection: whatever the kernel accepted for a
                // cancelled task is closed, the rest stays queued; nothing may leak.
                var cancelled = 0
                for round in 0..<20 {
                    let accepting = spawn { try await listener.accept() }
                    let client = spawn(on: .core(1)) { try await TCPStream.connect(to: address) }
                    try await sleep(for: tick(round * 11))
                    accepting.cancel()
                    do { try await accepting.value.close() } catch is CancellationError { cancelled += 1 }
                    try await client.value.close()
                }
                for stream in accepted { try await stream.close() }
                for stream in try await connecting.value { try await stream.close() }
                try await listener.close()
                return (ids, timeouts, cancelled)
            }.value
            #expect(ids.sorted() == (0..<UInt8(clients)).map { $0 }, "a connection accepted under a deadline was dropped")
            #expect(timeouts > 0, "no accept timed out: the test did not exercise the deadline")
            #expect(cancelled > 0)
            try await eventually { openFileAndSocketDescriptors() <= before }
            #expect(openFileAndSocketDescriptors() <= before, "a cancelled accept leaked a descriptor")
        }

        @Test("a connect stopped by its timeout, a deadline or task cancellation leaves no socket open and nothing on the ring")
        func connectCancelled() async throws {
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            let (fillers, outcomes, leaked, inFlight) = try await runtime.handle.spawn(on: .core(0)) { () -> (Int, [String], Int, Int) in
                // With a backlog of 0 the kernel queues one connection nobody accepts and then
                // drops further SYNs, so a connect waits (for the 1 s SYN retransmission).
                let listener = try TCPListener.bind(.loopback(port: 0), backlog: 0)
                let address = try listener.localAddress
                var fillers: [TCPStream] = []
                while fillers.count < 8 {
                    do { fillers.append(try await TCPStream.connect(to: address, timeout: .milliseconds(100))) } catch is TimeoutError { break }
                }
                let before = openFileAndSocketDescriptors()
                var outcomes = [await outcome { _ = try await TCPStream.connect(to: address, timeout: .milliseconds(20)) }]
                outcomes.append(await outcome { _ = try await withTimeout(.milliseconds(20)) { try await TCPStream.connect(to: address) } })
                let connecting = spawn { _ = try await TCPStream.connect(to: address) }
                try await sleep(for: .milliseconds(20))
                connecting.cancel()
                outcomes.append(await outcome { try await connecting.value })
                let leaked = openFileAndSocketDescriptors() - before
                let inFlight = Core.current!.driver.operations.inFlight
                for stream in fillers { try await stream.close() }
                try await listener.close()
                return (fillers.count, outcomes, leaked, inFlight)
            }.value
            #expect(fillers < 8, "the accept queue never filled: no connect waited")
            #expect(outcomes == ["TimeoutError", "TimeoutError", "CancellationError"])
            #expect(leaked <= 0, "a cancelled connect left its socket open")
            #expect(inFlight == 0, "a cancelled connect is still on the ring")
        }

        @Test("writeAll(_:written:) stopped by a deadline says how far it got; resuming sends the rest, no byte twice")
        func resumableWriteAll() async throws {
            let payload = pseudoRandomBytes(2 << 20, seed: 5)
            let buffer = IOBuffer(payload)
            let run = try await writeStoppedByDeadlineThenResumed(payload) { client, written in
                try await client.writeAll(buffer, written: &written)
            }
            #expect(run.stopped == "TimeoutError")
            #expect(run.writtenAtTimeout > 0 && run.writtenAtTimeout < payload.count, "the write was not stopped halfway")
            #expect(run.received == payload, "resuming from `written` sent a byte twice or skipped one")
        }

        @Test("a deadline stops waits for received chunks and multishot-accepted connections; what arrives later is handed out")
        func multishotWaitsUnderDeadline() async throws {
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            let (outcomes, chunkBytes, acceptedLater) = try await runtime.handle.spawn(on: .core(0)) { () -> ([String], [UInt8], Bool) in
                try await withWatchdog {
                    let listener = try TCPListener.bind(.loopback(port: 0))
                    let address = try listener.localAddress
                    var connections = listener.connections.makeAsyncIterator()
                    var outcomes = [await outcome { _ = try await withTimeout(.milliseconds(10)) { try await connections.next() } }]
                    let client = try await TCPStream.connect(to: address)
                    let server = try await withTimeout(.seconds(1)) { try await connections.next() }
                    var chunks = try server!.receivedChunks().makeAsyncIterator()
                    outcomes.append(await outcome { _ = try await withTimeout(.milliseconds(10)) { try await chunks.next() } })
                    try await client.writeAll("after the deadline")
                    var bytes: [UInt8] = []
                    while bytes.count < 18, let chunk = try await withTimeout(.seconds(1), { try await chunks.next() }) {
                        bytes += chunk.bytes
                    }
                    try await client.close()
                    try await server!.close()
                    try await listener.close()
                    return (outcomes, bytes, server != nil)
                }
            }.value
            #expect(outcomes == ["TimeoutError", "TimeoutError"], "a multishot wait ignored its deadline (the watchdog ended it)")
            #expect(String(decoding: chunkBytes, as: UTF8.self) == "after the deadline")
            #expect(acceptedLater)
        }

        // MARK: UDP

        @Test("UDP receives stopped by deadlines or task cancellation while datagrams arrive lose none and reorder none")
        func udpReceivesRacingCancellation() async throws {
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            let count = 300
            let (received, stopped) = try await runtime.handle.spawn(on: .core(0)) { () -> ([Int], Int) in
                let receiver = try UDPSocket.bind(.loopback(port: 0))
                let address = try receiver.localAddress
                let sender = try UDPSocket.bind(.loopback(port: 0))
                // Waits stopped before any datagram exists.
                var stopped = 0
                if await outcome({
                    let _: (count: Int, sender: SocketAddress?) = try await withTimeout(.milliseconds(5)) {
                        try await receiver.receive(into: IOBuffer(capacity: 8))
                    }
                }) == "TimeoutError" {
                    stopped += 1
                }
                let waiting = spawn { let _: (count: Int, sender: SocketAddress?) = try await receiver.receive(into: IOBuffer(capacity: 8)) }
                try await sleep(for: .milliseconds(5))
                waiting.cancel()
                if await outcome({ try await waiting.value }) == "CancellationError" { stopped += 1 }
                let sending = spawn(on: .core(1)) {
                    for index in 0..<count {
                        try await sender.send(withUnsafeBytes(of: UInt32(index).littleEndian) { Array($0) }, to: address)
                        try await sleep(for: tick(index * 3))
                    }
                }
                var received: [Int] = []
                let giveUp = ContinuousClock.now + .seconds(3)
                var i = 0
                func decode(_ bytes: [UInt8]) -> Int {
                    bytes.count == 4 ? Int(bytes.withUnsafeBytes { UInt32(littleEndian: $0.loadUnaligned(as: UInt32.self)) }) : -1
                }
                while received.count < count && ContinuousClock.now < giveUp {
                    i += 1
                    switch i % 2 == 0 ? Stop.deadline : Stop.taskCancel {
                    case .deadline:
                        let buffer = IOBuffer(capacity: 8)
                        do {
                            let _: (count: Int, sender: SocketAddress?) = try await withTimeout(tick(i)) { try await receiver.receive(into: buffer) }
                            received.append(decode(buffer.bytes))
                        } catch is TimeoutError {
                            stopped += 1
                        }
                    case .taskCancel:
                        let receiving = spawn { () -> [UInt8] in
                            let buffer = IOBuffer(capacity: 8)
                            let _: (count: Int, sender: SocketAddress?) = try await receiver.receive(into: buffer)
                            return buffer.bytes
                        }
                        try await sleep(for: tick(i))
                        receiving.cancel()
                        do { received.append(decode(try await receiving.value)) } catch is CancellationError { stopped += 1 }
                    }
                }
                try await sending.value
                try await sender.close()
                try await receiver.close()
                return (received, stopped)
            }.value
            #expect(received == Array(0..<count), "a datagram was lost, duplicated or reordered")
            #expect(stopped > 2, "no receive was stopped while datagrams flowed")
        }

        // MARK: Files

        @Test("opens cancelled before or while the kernel opens leak no descriptor; one past its deadline opens nothing")
        func fileOpenCancelled() async throws {
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            let directory = try makeTemporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let path = FilePath(directory).appending("data")
            FileManager.default.createFile(atPath: path.string, contents: Data([1, 2, 3]))
            let before = openFileAndSocketDescriptors()
            let (refused, opened, cancelled, expired) = try await runtime.handle.spawn(on: .core(0)) { () -> (String, Int, Int, String) in
                let refused = try await spawn { () -> String in
                    withUnsafeCurrentTask { $0?.cancel() }
                    return await outcome { _ = try await File.open(path) }
                }.value
                var opened = 0
                var cancelled = 0
                for round in 0..<200 {
                    let opening = spawn { try await File.open(path) }
                    if round % 2 == 0 { await Task.yield() }
                    opening.cancel()
                    do {
                        try await opening.value.close()
                        opened += 1
                    } catch is CancellationError {
                        cancelled += 1
                    }
                }
                let expired = await outcome {
                    _ = try await withDeadline(.now - .milliseconds(1)) { try await File.open(path) }
                }
                return (refused, opened, cancelled, expired)
            }.value
            #expect(refused == "CancellationError")
            #expect(opened + cancelled == 200)
            #expect(cancelled > 0)
            #expect(expired == "TimeoutError")
            #expect(openFileAndSocketDescriptors() <= before, "a cancelled open leaked its descriptor")
        }

        @Test("regular-file writes report what they did: refused in a cancelled task, completed with their count once issued")
        func fileWriteCancelled() async throws {
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            let directory = try makeTemporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let path = FilePath(directory).appending("data")
            let contents = pseudoRandomBytes(1 << 20, seed: 9)
            let (refused, sizeAfterRefusal, results) = try await runtime.handle.spawn(on: .core(0)) { () -> (String, UInt64, [(Int?, UInt64)]) in
                let file = try await File.open(path, options: [.read, .write, .create, .truncate])
                let refused = try await spawn { () -> String in
                    let buffer = IOBuffer(contents)
                    withUnsafeCurrentTask { $0?.cancel() }
                    return await outcome { _ = try await file.write(buffer, at: 0) }
                }.value
                let sizeAfterRefusal = try await file.metadata().size
                // Cancelled while the write may be in flight: either it was refused (nothing
                // written) or it completed and returned its count (the bytes are there).
                var results: [(Int?, UInt64)] = []
                for round in 0..<6 {
                    let target = FilePath(directory).appending("round\(round)")
                    let out = try await File.create(target)
                    let writing = spawn { try await out.write(IOBuffer(contents), at: 0) }
                    if round % 2 == 0 { await Task.yield() }
                    writing.cancel()
                    let count = try? await writing.value
                    results.append((count, try await out.metadata().size))
                    try await out.close()
                }
                try await file.close()
                return (refused, sizeAfterRefusal, results)
            }.value
            #expect(refused == "CancellationError")
            #expect(sizeAfterRefusal == 0, "a write refused for cancellation wrote something")
            for (count, size) in results {
                if let count {
                    #expect(count > 0 && UInt64(count) == size, "the count returned is not what was written")
                } else {
                    #expect(size == 0, "a write reported as cancelled had written \(size) bytes")
                }
            }
        }

        @Test("a FIFO read stopped by a deadline consumes nothing: the bytes written next are read")
        func fifoReadUnderDeadline() async throws {
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            var ends: [Int32] = [0, 0]
            #expect(pipe(&ends) == 0)
            defer { close(ends[1]) }
            let reader = File(descriptor: ends[0], path: "pipe")
            let writeEnd = ends[1]
            let (stopped, bytes) = try await runtime.handle.spawn(on: .core(0)) { () -> (String, [UInt8]) in
                let stopped = await outcome { _ = try await withTimeout(.milliseconds(10)) { try await reader.read(into: IOBuffer(capacity: 16)) } }
                _ = write(writeEnd, "ab", 2)
                let buffer = IOBuffer(capacity: 16)
                _ = try await withTimeout(.seconds(1)) { try await reader.read(into: buffer) }
                return (stopped, buffer.bytes)
            }.value
            #expect(stopped == "TimeoutError")
            #expect(bytes == Array("ab".utf8))
        }

        @Test("a spliceCopy that fails halfway leaves its pipe empty, so the next copy through it is not corrupted")
        func spliceCopyEmptiesPipeOnFailure() async throws {
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            let directory = try makeTemporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let source = FilePath(directory).appending("source")
            let contents = pseudoRandomBytes(100_000, seed: 4)
            FileManager.default.createFile(atPath: source.string, contents: Data(contents))
            let other = FilePath(directory).appending("other")
            FileManager.default.createFile(atPath: other.string, contents: Data(repeating: 0xEE, count: 10))
            let copy = FilePath(directory).appending("copy")
            let (failure, left) = try await runtime.handle.spawn(on: .core(0)) { () -> (String, Int32) in
                // Bytes left in the pipe would fill it, and the next copy would wait forever.
                try await withWatchdog { try await copyTwice() }
            }.value
            #expect(failure == "IOError")
            #expect(left == 0, "the failed copy left bytes in the pipe")
            #expect(FileManager.default.contents(atPath: copy.string) == Data(contents), "the next copy through the pipe is corrupted")

            @Sendable func copyTwice() async throws -> (String, Int32) {
                let input = try await File.open(source)
                let pipe = try PipePair(capacity: 64 << 10)
                // Read-only: the splice into the pipe succeeds, the one out of it fails (EBADF).
                let readOnly = try await File.open(other)
                let failure = await outcome { _ = try await readOnly.spliceCopy(from: input, at: 0, to: 0, length: contents.count, through: pipe) }
                var left: Int32 = 0
                _ = ioctl(pipe.readEnd.rawValue, UInt(FIONREAD), &left)
                let output = try await File.create(copy)
                let n = try await output.spliceCopy(from: input, at: 0, to: 0, length: contents.count, through: pipe)
                #expect(n == contents.count)
                try await output.close()
                try await readOnly.close()
                try await input.close()
                return (failure, left)
            }
        }

        @Test("a splice waiting on a full pipe, cancelled, throws CancellationError (not the kernel's ERESTARTSYS) and moves nothing")
        func spliceIntoFullPipeCancelled() async throws {
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            let directory = try makeTemporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let source = FilePath(directory).appending("source")
            FileManager.default.createFile(atPath: source.string, contents: Data(pseudoRandomBytes(8192, seed: 2)))
            let (outcomes, moved) = try await runtime.handle.spawn(on: .core(0)) { () -> ([String], Int) in
                let input = try await File.open(source)
                let pipe = try PipePair(capacity: 4096)
                // Fill the pipe: a splice into it waits in one of io_uring's worker threads,
                // and a cancel interrupts it there. (Not a deadline: its linked timeout does not
                // interrupt a worker, see File.splice(into:from:length:).)
                let filler = [UInt8](repeating: 7, count: pipe.capacity)
                #expect(write(pipe.writeEnd.rawValue, filler, filler.count) == filler.count)
                var outcomes: [String] = []
                let splicing = spawn { _ = try await input.splice(into: pipe, from: 0, length: 4096) }
                try await sleep(for: .milliseconds(20))
                splicing.cancel()
                outcomes.append(await outcome { try await splicing.value })
                // Nothing was moved: once the filler is drained, all of it is still the filler.
                var drained = [UInt8](repeating: 0, count: filler.count + 1)
                let n = read(pipe.readEnd.rawValue, &drained, drained.count)
                try await input.close()
                return (outcomes, n)
            }.value
            #expect(outcomes == ["CancellationError"], "an interrupted splice surfaced as an I/O error (ERESTARTSYS)")
            #expect(moved == 4096)
        }

        // MARK: Time

        @Test("a sleep stopped by task cancellation or a deadline throws at once and leaves no timer on the ring")
        func sleepCancelled() async throws {
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            let (outcomes, took, inFlight) = try await runtime.handle.spawn(on: .core(0)) { () -> ([String], Duration, Int) in
                var outcomes: [String] = []
                let took = await elapsed {
                    outcomes.append(await outcome { try await withTimeout(.milliseconds(10)) { try await sleep(for: .seconds(10)) } })
                    let sleeper = spawn { try await sleep(for: .seconds(10)) }
                    try? await sleep(for: .milliseconds(5))
                    sleeper.cancel()
                    outcomes.append(await outcome { try await sleeper.value })
                }
                return (outcomes, took, Core.current!.driver.operations.inFlight)
            }.value
            #expect(outcomes == ["TimeoutError", "CancellationError"])
            #expect(took < .milliseconds(500), "a stopped sleep was not cancelled promptly")
            #expect(inFlight == 0, "a cancelled sleep left its timer (or its link timeout) on the ring")
        }

        @Test("an interval wait stopped by a deadline returns nil and consumes no tick: the next call returns that tick")
        func intervalWaitCancelled() async throws {
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            let (first, stopped, next) = try await runtime.handle.spawn(on: .core(0)) {
                () -> (ContinuousClock.Instant?, ContinuousClock.Instant?, ContinuousClock.Instant?) in
                var ticks = interval(every: .milliseconds(40)).makeAsyncIterator()
                let first = await ticks.next()
                let stopped = try await withTimeout(.milliseconds(5)) { await ticks.next() }
                let next = await ticks.next()
                return (first, stopped, next)
            }.value
            #expect(first != nil)
            #expect(stopped == nil)
            #expect(next == first.map { $0 + .milliseconds(40) }, "the stopped wait consumed the tick it waited for")
        }

        // MARK: Signals

        @Test("a SignalListener wait stopped by a deadline marks nothing as reported: a signal that comes later is returned")
        func signalWaitCancelled() async throws {
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            let listener = try SignalListener([.user2])
            let (stopped, received) = try await runtime.handle.spawn(on: .core(0)) { () -> (String, ProcessSignal?) in
                try await withWatchdog {
                    let stopped = await outcome { _ = try await withTimeout(.milliseconds(10)) { try await listener.next() } }
                    kill(getpid(), SIGUSR2)
                    let received = try await withTimeout(.seconds(1)) { try await listener.next() }
                    return (stopped, received)
                }
            }.value
            #expect(stopped == "TimeoutError")
            #expect(received == .user2)
        }

        // MARK: Synchronization

        @Test("AsyncMutex: a wait stopped by a deadline takes no lock; the next waiter gets it")
        func mutexWaitCancelled() async throws {
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            let (stopped, lockedAfterUnlock, later) = try await runtime.handle.spawn(on: .core(0)) { () -> (String, Bool, String) in
                try await withWatchdog {
                    let mutex = AsyncMutex(0)
                    try await mutex.lock()
                    let stopped = await outcome { try await withTimeout(.milliseconds(5)) { try await mutex.withLock { $0 += 100 } } }
                    let waiter = spawn { try await mutex.withLock { $0 += 1 } }
                    try await sleep(for: .milliseconds(2))
                    mutex.unlock()  // must go to `waiter`, not to the waiter that left
                    try await waiter.value
                    let lockedAfterUnlock = mutex.isLocked
                    return (stopped, lockedAfterUnlock, "value \(try await mutex.withLock { $0 })")
                }
            }.value
            #expect(stopped == "TimeoutError")
            #expect(!lockedAfterUnlock)
            #expect(later == "value 1", "the stopped wait ran its body, or the lock went to it")
        }

        @Test("AsyncSemaphore: a stopped wait takes no permit, and leaving the head of the queue lets the waiter behind it through")
        func semaphoreWaitCancelled() async throws {
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            let (stopped, small, available) = try await runtime.handle.spawn(on: .core(0)) { () -> (String, String, Int) in
                try await withWatchdog {
                    let semaphore = AsyncSemaphore(permits: 1)
                    // A waiter for 2 at the head blocks a waiter for 1 behind it (fairness)...
                    let big = spawn { _ = try await withTimeout(.milliseconds(20)) { try await semaphore.acquire(2) } }
                    try await sleep(for: .milliseconds(2))
                    let smallWaiter = spawn { () -> String in
                        let permit = try await semaphore.acquire(1)
                        permit.release()
                        return "small served"
                    }
                    // ...until the deadline takes it out of the queue.
                    let stopped = await outcome { try await big.value }
                    let small = try await smallWaiter.value
                    return (stopped, small, semaphore.availablePermits)
                }
            }.value
            #expect(stopped == "TimeoutError")
            #expect(small == "small served", "the waiter behind the stopped one was not served")
            #expect(available == 1, "a stopped wait kept a permit")
        }

        @Test("Notify: a wait stopped by a deadline consumes no notification; it goes to the next waiter")
        func notifyWaitCancelled() async throws {
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            let outcomes = try await runtime.handle.spawn(on: .core(0)) { () -> [String] in
                try await withWatchdog {
                    let notify = Notify()
                    var outcomes = [await outcome { try await withTimeout(.milliseconds(5)) { try await notify.notified() } }]
                    let cancelledWaiter = spawn { try await notify.notified() }
                    try await sleep(for: .milliseconds(2))
                    cancelledWaiter.cancel()
                    outcomes.append(await outcome { try await cancelledWaiter.value })
                    // Nobody waits now: the notification must be stored, not spent on a waiter that left.
                    notify.notifyOne()
                    outcomes.append(await outcome { try await withTimeout(.milliseconds(200)) { try await notify.notified() } })
                    return outcomes
                }
            }.value
            #expect(outcomes == ["TimeoutError", "CancellationError", "returned"])
        }
    }
}
