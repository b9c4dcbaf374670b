import Foundation
import Testing
import TorusTestSupport

@testable import Torus

/// `File.read(into:at:maxLength:)` is `nonisolated(nonsending)`, so that a task on a core reads
/// without an executor switch on the way in and out. Called from an actor it must still submit,
/// retry and settle on one core (the task's), whichever thread runs the actor: it reads there
/// into a buffer of its own and copies. These tests call it from each kind of caller and check
/// every byte.
extension RuntimeSuite {
    @Suite("File reads at an offset from tasks and actors")
    struct FileReadIsolationTests {
        /// Shared by tasks on both cores: each call reads into a buffer of its own (the actor is
        /// re-entered while a read waits).
        actor Reader {
            var reads = 0
            func read(_ file: File, at offset: UInt64, maxLength: Int? = nil) async throws -> [UInt8] {
                let buffer = IOBuffer(capacity: 4096)
                _ = try await file.read(into: buffer, at: offset, maxLength: maxLength)
                reads += 1
                return buffer.bytes
            }
        }

        /// An actor whose jobs run on a dispatch queue: on no core at all. It reads into a buffer
        /// it owns (it may hand its own buffer to a `nonisolated(nonsending)` read, which a
        /// plain `nonisolated async` one refused), used by one caller at a time.
        actor ReaderOnQueue {
            let executor = CallerIsolationTests.QueueExecutor()
            nonisolated var unownedExecutor: UnownedSerialExecutor { executor.asUnownedSerialExecutor() }
            let buffer = IOBuffer(capacity: 100)
            func read(_ file: File, at offset: UInt64, maxLength: Int? = nil) async throws -> ([UInt8], Int) {
                buffer.clear()
                buffer.append([7, 7])  // bytes already there stay, the read appends after them
                let count = try await file.read(into: buffer, at: offset, maxLength: maxLength)
                return (buffer.bytes, count)
            }
        }

        @Test("from a task on a core: the bytes at each offset, a short read at the end, nothing past it")
        func fromTask() async throws {
            let (directory, path, bytes) = try pseudoRandomFile(10_000, seed: 41)
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            let results = try await runtime.handle.spawn(on: .core(1)) { () -> [[UInt8]] in
                let file = try await File.open(path)
                let buffer = IOBuffer(capacity: 1000)
                var results: [[UInt8]] = []
                for offset: UInt64 in [0, 4321, 9500, 10_000, 20_000] {
                    buffer.clear()
                    _ = try await file.read(into: buffer, at: offset)
                    results.append(buffer.bytes)
                }
                try await file.close()
                return results
            }.value
            #expect(results[0] == fileBytes(bytes, 0, 1000))
            #expect(results[1] == fileBytes(bytes, 4321, 1000))
            #expect(results[2] == fileBytes(bytes, 9500, 1000) && results[2].count == 500)
            #expect(results[3].isEmpty && results[4].isEmpty)
        }

        @Test("from an actor on no core: the read runs on the task's core, appends after what the buffer held, honours maxLength")
        func fromActorOffCore() async throws {
            let (directory, path, bytes) = try pseudoRandomFile(10_000, seed: 42)
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            let (whole, short, past) = try await runtime.handle.spawn(on: .core(0)) { () -> (([UInt8], Int), ([UInt8], Int), ([UInt8], Int)) in
                let file = try await File.open(path)
                let reader = ReaderOnQueue()
                let whole = try await reader.read(file, at: 1234)
                let short = try await reader.read(file, at: 9990, maxLength: 5)
                let past = try await reader.read(file, at: 50_000)
                try await file.close()
                return (whole, short, past)
            }.value
            #expect(whole.1 == 98 && whole.0 == [7, 7] + fileBytes(bytes, 1234, 98))
            #expect(short.1 == 5 && short.0 == [7, 7] + fileBytes(bytes, 9990, 5))
            #expect(past.1 == 0 && past.0 == [7, 7])
        }

        /// On no core, with a buffer larger than one read from an actor moves.
        actor LargeReaderOnQueue {
            let executor = CallerIsolationTests.QueueExecutor()
            nonisolated var unownedExecutor: UnownedSerialExecutor { executor.asUnownedSerialExecutor() }
            func readAll(_ file: File, size: Int) async throws -> (counts: [Int], bytes: [UInt8]) {
                let buffer = IOBuffer(capacity: size + 1)
                var counts: [Int] = []
                while true {
                    let count = try await file.read(into: buffer, at: UInt64(buffer.count))
                    if count == 0 { return (counts, buffer.bytes) }
                    counts.append(count)
                }
            }
        }

        @Test("from an actor, one read moves at most 1 MiB (a short read); reading on from where it stopped gets every byte")
        func fromActorShortReads() async throws {
            let size = 3 << 20 | 12_345
            let (directory, path, bytes) = try pseudoRandomFile(size, seed: 46)
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            let (counts, read) = try await runtime.handle.spawn(on: .core(1)) { () -> ([Int], [UInt8]) in
                let file = try await File.open(path)
                let outcome = try await LargeReaderOnQueue().readAll(file, size: size)
                try await file.close()
                return outcome
            }.value
            #expect(counts == [1 << 20, 1 << 20, 1 << 20, 12_345])
            #expect(read == bytes)
        }

        @Test("from an actor on no core, a closed file's read throws an IOError naming the read and the path")
        func fromActorClosedFile() async throws {
            let (directory, path, _) = try pseudoRandomFile(100, seed: 43)
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            let described = try await runtime.handle.spawn(on: .core(0)) { () -> String in
                let file = try await File.open(path)
                try await file.close()
                do {
                    _ = try await ReaderOnQueue().read(file, at: 0)
                    return "no error"
                } catch let error as IOError {
                    return "\(error.operation) \(error.path.map { "\($0)" } ?? "-") \(error.errno)"
                }
            }.value
            #expect(described.hasPrefix("read \(path)"), "\(described)")
        }

        /// Many reads into one buffer the actor owns, at once: each call sees the buffer's free
        /// space before its read waits, and the others fill it meanwhile.
        actor SharedBufferReader {
            let buffer = IOBuffer(capacity: 4096)
            func read(_ file: File, at offset: UInt64) async throws -> Int { try await file.read(into: buffer, at: offset) }
            func drain() -> [UInt8] {
                defer { buffer.clear() }
                return buffer.bytes
            }
        }

        @Test("reads from an actor racing to fill its one buffer: only what fits is appended and counted, never a trap")
        func fromActorRacingForItsBuffer() async throws {
            let (directory, path, bytes) = try pseudoRandomFile(1 << 16, seed: 45)
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            let rounds = try await runtime.handle.spawn(on: .core(0)) { () -> [(counts: [Int: Int], held: [UInt8])] in
                let file = try await File.open(path)
                let reader = SharedBufferReader()
                var rounds: [(counts: [Int: Int], held: [UInt8])] = []
                for _ in 0..<20 {
                    let counts = try await withThrowingTaskGroup(of: (Int, Int).self) { group in
                        for block in 0..<8 { group.addTask { (block, try await reader.read(file, at: UInt64(block * 4096))) } }
                        var counts: [Int: Int] = [:]
                        for try await (block, count) in group { counts[block] = count }
                        return counts
                    }
                    rounds.append((counts, await reader.drain()))
                }
                try await file.close()
                return rounds
            }.value
            for round in rounds {
                // What was counted is what the buffer holds, at most its capacity, and it is the
                // calls' bytes one after another, each the file's bytes at the call's offset.
                #expect(round.counts.values.reduce(0, +) == round.held.count)
                #expect(round.held.count > 0 && round.held.count <= 4096)
                var position = 0
                var unmatched = round.counts.filter { $0.value > 0 }
                while position < round.held.count {
                    let next = unmatched.first { block, count in
                        position + count <= round.held.count
                            && Array(round.held[position..<position + count]) == fileBytes(bytes, block * 4096, count)
                    }
                    guard let (block, count) = next else { break }
                    unmatched[block] = nil
                    position += count
                }
                #expect(position == round.held.count && unmatched.isEmpty, "counts \(round.counts)")
            }
        }

        @Test("a default actor shared by tasks on both cores: every read from it returns the right bytes, on whichever core runs it")
        func fromContendedActor() async throws {
            let (directory, path, bytes) = try pseudoRandomFile(1 << 20, seed: 44)
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            let reader = Reader()
            let file = try await runtime.handle.spawn(on: .core(0)) { try await File.open(path) }.value
            let mismatches = try await withThrowingTaskGroup(of: Int.self) { group in
                for core in 0..<2 {
                    for task in 0..<4 {
                        group.addTask {
                            try await runtime.handle.spawn(on: .core(core)) { () -> Int in
                                var mismatches = 0
                                for round in 0..<300 {
                                    let offset = (round * 7919 + task * 104_729 + core * 3) % (1 << 20)
                                    let got = try await reader.read(file, at: UInt64(offset))
                                    if got != fileBytes(bytes, offset, 4096) { mismatches += 1 }
                                }
                                return mismatches
                            }.value
                        }
                    }
                }
                return try await group.reduce(0, +)
            }
            try await runtime.handle.spawn(on: .core(0)) { try await file.close() }.value
            #expect(mismatches == 0)
            #expect(await reader.reads == 2400)
        }
    }
}
