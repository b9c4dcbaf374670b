import Foundation
import Testing
import TorusTestSupport

@testable import Torus

/// What a batch did to each buffer: its bytes, read back after the call.
private struct Outcome: Sendable {
    var counts: [Int]?
    var error: String?
    var contents: [[UInt8]]
}

extension RuntimeSuite {
    @Suite("Batched file reads")
    struct BatchedFileReads {
        @Test("a batch reads every range into its own buffer, after bytes already there, clipped at the end of the file")
        func readsEveryRange() async throws {
            let (directory, path, bytes) = try pseudoRandomFile(1 << 20, seed: 31)
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            // (offset, maxLength, bytes already in the buffer)
            var plan: [(Int, Int?, Int)] = (0..<200).map { index in
                (Int((UInt64(index) &* 0x9E37_79B9_7F4A_7C15) >> 44) % (1 << 20), 4096, index % 3 == 0 ? 17 : 0)
            }
            plan += [(0, nil, 0), ((1 << 20) - 100, 4096, 0), (1 << 20, 4096, 0), (5 << 20, 4096, 0), (12_345, 0, 0), (999, 1, 5)]
            let plans = plan
            let outcome = try await runtime.handle.spawn(on: .core(1)) { () -> Outcome in
                let file = try await File.open(path)
                let buffers = plans.map { plan in
                    let buffer = IOBuffer(capacity: 8192)
                    buffer.append(repeatElement(0xEE, count: plan.2))
                    return buffer
                }
                let requests = zip(plans, buffers).map { plan, buffer in
                    FileReadRequest(into: buffer, at: UInt64(plan.0), maxLength: plan.1)
                }
                let counts = try await file.read(requests)
                try await file.close()
                return Outcome(counts: counts, contents: buffers.map(\.bytes))
            }.value
            for (index, (offset, maxLength, prefix)) in plan.enumerated() {
                let expected = fileBytes(bytes, offset, maxLength ?? (8192 - prefix))
                #expect(outcome.counts?[index] == expected.count, "request \(index)")
                let contents = outcome.contents[index]
                #expect(contents.prefix(prefix).allSatisfy { $0 == 0xEE }, "request \(index): the bytes already in the buffer were kept")
                #expect(firstDifference(Array(contents.dropFirst(prefix)), expected) == nil, "request \(index) at \(offset)")
            }
        }

        @Test("a batch far larger than the ring, and an empty batch")
        func largeAndEmptyBatches() async throws {
            let (directory, path, bytes) = try pseudoRandomFile(4 << 20, seed: 32)
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            let (counts, contents, empty) = try await runtime.handle.spawn(on: .core(0)) { () -> ([Int], [[UInt8]], [Int]) in
                let file = try await File.open(path)
                let buffers = (0..<3000).map { _ in IOBuffer(capacity: 1000) }
                let requests = buffers.enumerated().map { index, buffer in
                    FileReadRequest(into: buffer, at: UInt64((index * 1399) % (4 << 20)))
                }
                let counts = try await file.read(requests)
                let empty = try await file.read([])
                try await file.close()
                return (counts, buffers.map(\.bytes), empty)
            }.value
            #expect(empty.isEmpty)
            #expect(counts.count == 3000)
            for index in 0..<3000 {
                let expected = fileBytes(bytes, (index * 1399) % (4 << 20), 1000)
                #expect(counts[index] == expected.count && contents[index] == expected, "request \(index)")
            }
        }

        @Test("a failed read is reported by operation and path, and the other reads' bytes are all in their buffers")
        func failureKeepsTheOtherReads() async throws {
            let (directory, path, bytes) = try pseudoRandomFile(64 << 10, seed: 33)
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            let outcome = try await runtime.handle.spawn(on: .core(0)) { () -> Outcome in
                // The 6th read fails with EIO, the 9th is interrupted once (and retried), the
                // 12th comes back short.
                try await FaultInjection.with([
                    FaultRule("read", subject: directory, .fail(.ioError), skip: 5),
                    FaultRule("read", subject: directory, .fail(.interrupted), skip: 7),
                    FaultRule("read", subject: directory, .short(100), skip: 9),
                ]) {
                    let file = try await File.open(path)
                    defer { Task { try? await file.close() } }
                    let buffers = (0..<16).map { _ in IOBuffer(capacity: 4096) }
                    let requests = buffers.enumerated().map { FileReadRequest(into: $1, at: UInt64($0 * 4096)) }
                    do {
                        let counts = try await file.read(requests)
                        return Outcome(counts: counts, contents: buffers.map(\.bytes))
                    } catch {
                        return Outcome(error: "\(error)", contents: buffers.map(\.bytes))
                    }
                }
            }.value
            #expect(outcome.counts == nil)
            let error = try #require(outcome.error)
            #expect(error.contains("read") && error.contains(path.string) && error.contains("EIO") || error.contains("I/O error"), "\(error)")
            for index in 0..<16 {
                let expected: [UInt8] =
                    switch index {
                    case 5: []
                    case 11: fileBytes(bytes, index * 4096, 100)
                    default: fileBytes(bytes, index * 4096, 4096)
                    }
                #expect(outcome.contents[index] == expected, "request \(index)")
            }
        }

        @Test("a task cancelled before the call reads nothing; an expired deadline reads nothing and says so")
        func cancelledBeforeTheCall() async throws {
            let (directory, path, _) = try pseudoRandomFile(64 << 10, seed: 34)
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            let (cancelled, timedOut) = try await runtime.handle.spawn(on: .core(0)) { () -> (Outcome, Outcome) in
                let file = try await File.open(path)
                let cancelled = try await spawn { () -> Outcome in
                    withUnsafeCurrentTask { $0?.cancel() }
                    let buffers = (0..<8).map { _ in IOBuffer(capacity: 4096) }
                    let requests = buffers.enumerated().map { FileReadRequest(into: $1, at: UInt64($0 * 4096)) }
                    do {
                        return Outcome(counts: try await file.read(requests), contents: buffers.map(\.bytes))
                    } catch {
                        return Outcome(error: "\(type(of: error))", contents: buffers.map(\.bytes))
                    }
                }.value
                let buffers = (0..<8).map { _ in IOBuffer(capacity: 4096) }
                let requests = buffers.enumerated().map { FileReadRequest(into: $1, at: UInt64($0 * 4096)) }
                let timedOut: Outcome
                do {
                    let counts = try await withTimeout(.zero) { try await file.read(requests) }
                    timedOut = Outcome(counts: counts, contents: buffers.map(\.bytes))
                } catch {
                    timedOut = Outcome(error: "\(type(of: error))", contents: buffers.map(\.bytes))
                }
                try await file.close()
                return (cancelled, timedOut)
            }.value
            #expect(cancelled.error == "CancellationError")
            #expect(timedOut.error == "TimeoutError")
            #expect((cancelled.contents + timedOut.contents).allSatisfy { $0.isEmpty })
        }

        @Test("cancelled or stopped by a deadline while in flight: every buffer holds exactly what was read into it")
        func cancelledInFlightLosesNothing() async throws {
            let (directory, path, bytes) = try pseudoRandomFile(8 << 20, seed: 35)
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            for round in 0..<20 {
                let outcome = try await runtime.handle.spawn(on: .core(round % 2)) { () -> Outcome in
                    let file = try await File.open(path)
                    defer { Task { try? await file.close() } }
                    // On this core: an unstructured `Task` would run on the global executor.
                    let reader = spawn { () -> Outcome in
                        let buffers = (0..<512).map { _ in IOBuffer(capacity: 16 << 10) }
                        let requests = buffers.enumerated().map { FileReadRequest(into: $1, at: UInt64($0 * (16 << 10))) }
                        do {
                            let counts =
                                round % 2 == 0
                                ? try await file.read(requests)
                                : try await withTimeout(.microseconds(20 * round)) { try await file.read(requests) }
                            return Outcome(counts: counts, contents: buffers.map(\.bytes))
                        } catch {
                            return Outcome(error: "\(type(of: error)): \(error)", contents: buffers.map(\.bytes))
                        }
                    }
                    if round % 2 == 0 {
                        for _ in 0..<round { await Task.yield() }
                        reader.cancel()
                    }
                    return try await reader.value
                }.value
                if let error = outcome.error {
                    #expect(error.hasPrefix("CancellationError") || error.hasPrefix("TimeoutError"), "round \(round): \(error)")
                }
                for index in 0..<512 {
                    let contents = outcome.contents[index]
                    let expected = fileBytes(bytes, index * (16 << 10), 16 << 10)
                    // A read the cancel stopped left its buffer with what it had read (nothing, or a
                    // prefix from an interrupted io-wq read); one that completed, all its bytes,
                    // whether the call returned or threw.
                    #expect(contents == Array(expected.prefix(contents.count)), "round \(round), request \(index): \(contents.count) bytes")
                    if let counts = outcome.counts { #expect(counts[index] == expected.count && contents == expected) }
                }
            }
        }

        @Test("on a FIFO the reads go one by one and stay cancellable; a closed file and a call off the runtime fail with typed errors")
        func pipesAndBrokenCases() async throws {
            let directory = try makeTemporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let fifo = directory + "/fifo"
            #expect(mkfifo(fifo, 0o600) == 0)
            let (sampleDirectory, path, _) = try pseudoRandomFile(4096, seed: 36)
            defer { try? FileManager.default.removeItem(atPath: sampleDirectory) }
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            let (fromFIFO, counts, waiting, afterClose) = try await runtime.handle.spawn(on: .core(0)) { () -> ([UInt8], [Int], String, String) in
                // Read and write, so that opening the FIFO does not wait for a writer.
                let pipe = try await File.open(FilePath(fifo), options: [.read, .write])
                try await pipe.writeAll(Array("hello".utf8))
                let first = IOBuffer(capacity: 3)
                let second = IOBuffer(capacity: 16)
                // A pipe has no offsets: the kernel reads it in order, whatever offset is given.
                let counts = try await pipe.read([FileReadRequest(into: first, at: 0), FileReadRequest(into: second, at: 0)])
                // Nothing left in the pipe: the read waits, and a deadline stops it with nothing lost.
                let idle = IOBuffer(capacity: 16)
                let waiting: String
                do {
                    _ = try await withTimeout(.milliseconds(50)) { try await pipe.read([FileReadRequest(into: idle, at: 0)]) }
                    waiting = "returned"
                } catch {
                    waiting = "\(type(of: error)) \(idle.count)"
                }
                try await pipe.close()
                let file = try await File.open(path)
                try await file.close()
                let afterClose: String
                do {
                    _ = try await file.read([FileReadRequest(into: IOBuffer(capacity: 16), at: 0)])
                    afterClose = "returned"
                } catch {
                    afterClose = "\(error)"
                }
                return (first.bytes + second.bytes, counts, waiting, afterClose)
            }.value
            #expect(fromFIFO == Array("hello".utf8) && counts == [3, 2])
            #expect(waiting == "TimeoutError 0")
            #expect(afterClose.contains("read") && (afterClose.contains("EBADF") || afterClose.contains("Bad file descriptor")), "\(afterClose)")
            let file = try await runtime.handle.spawn(on: .core(0)) { try await File.open(path) }.value
            await #expect(throws: RuntimeError.self) {
                _ = try await file.read([FileReadRequest(into: IOBuffer(capacity: 16), at: 0)])
            }
        }

        @Test("a buffer named in two requests of one batch stops the process (the reads would overwrite each other)")
        func sharedBufferTraps() async throws {
            let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
                let (_, path, _) = try pseudoRandomFile(8192, seed: 37)
                let runtime = try makeRuntime()
                try await runtime.handle.spawn(on: .core(0)) {
                    let file = try await File.open(path)
                    let shared = IOBuffer(capacity: 8192)
                    let others = (0..<20).map { _ in IOBuffer(capacity: 16) }
                    var requests = others.map { FileReadRequest(into: $0, at: 0) }
                    requests.insert(FileReadRequest(into: shared, at: 0), at: 3)
                    requests.append(FileReadRequest(into: shared, at: 4096))
                    _ = try await file.read(requests)
                }.value
            }
            if let result {
                let message = String(decoding: result.standardErrorContent, as: UTF8.self)
                #expect(message.contains("a buffer appears in two requests of one batch"), "\(message)")
            }
        }
    }
}
