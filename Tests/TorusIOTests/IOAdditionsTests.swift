import Foundation
import Synchronization
import Testing
import TorusTestSupport

@testable import Torus

/// A writer that records every call, taking at most `limit` bytes per call.
final class RecordingWriter: AsyncWriter {
    var calls = 0
    var bytes: [UInt8] = []
    let limit: Int
    init(limit: Int = .max) { self.limit = limit }
    func write(_ buffer: IOBuffer, from offset: Int) async throws -> Int {
        calls += 1
        let n = min(limit, buffer.count - offset)
        buffer.withUnsafeBytes { bytes.append(contentsOf: $0[offset..<(offset + n)]) }
        return n
    }
}

extension RuntimeSuite {
    @Suite("Buffered writing, standard streams, core task groups, element timeouts")
    struct IOAdditionsTests {
        @Test("BufferedWriter turns 1,000 small writes into a write per full buffer, in order, and short writes lose nothing")
        func bufferedWriterCoalesces() async throws {
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            let (calls, correct, shortCalls, shortCorrect) = try await runtime.handle.spawn(on: .core(0)) { () -> (Int, Bool, Int, Bool) in
                let expected = (0..<1000).flatMap { Array("item \(String($0, radix: 10).padding(toLength: 4, withPad: " ", startingAt: 0))\n".utf8) }
                let sink = RecordingWriter()
                let out = BufferedWriter(sink, capacity: 4096)
                for index in 0..<1000 { try await out.write("item \(String(index, radix: 10).padding(toLength: 4, withPad: " ", startingAt: 0))\n") }
                try await out.flush()
                let short = RecordingWriter(limit: 7)
                let shortOut = BufferedWriter(short, capacity: 100)
                try await shortOut.write(expected)
                try await shortOut.flush()
                return (sink.calls, sink.bytes == expected, short.calls, short.bytes == expected)
            }.value
            #expect(calls == 3, "10,000 bytes through a 4 KiB buffer: 3 writes")
            #expect(correct)
            #expect(shortCalls > 1000 && shortCorrect)
        }

        @Test("a BufferedWriter flush stopped by a deadline keeps what the peer did not take; the next flush sends it, once")
        func bufferedWriterFlushIsCancelSafe() async throws {
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            let (received, expected, timeouts) = try await runtime.handle.spawn(on: .core(0)) { () -> (Checksum, Checksum, Int) in
                let listener = try TCPListener.bind("127.0.0.1:0")
                let address = try listener.localAddress
                let rounds = 24
                let chunk = pseudoRandomBytes(1 << 20, seed: 7)
                var expected = Checksum()
                for _ in 0..<rounds { chunk.withUnsafeBytes { expected.add($0) } }
                // The peer starts reading only after a pause, so the first flushes fill the
                // socket buffers and time out.
                let reader = spawn(on: .core(1)) { () -> Checksum in
                    let peer = try await listener.accept()
                    try await sleep(for: .milliseconds(150))
                    var sum = Checksum()
                    let buffer = IOBuffer(capacity: 1 << 16)
                    while true {
                        buffer.clear()
                        guard try await peer.read(into: buffer) > 0 else { return sum }
                        buffer.withUnsafeBytes { sum.add($0) }
                    }
                }
                let stream = try await TCPStream.connect(to: address)
                let out = BufferedWriter(stream, capacity: 1 << 20)
                var timeouts = 0
                for _ in 0..<rounds {
                    try await out.write(chunk)  // fits the empty buffer: never waits
                    while out.pending > 0 {
                        do { try await withTimeout(.milliseconds(10)) { try await out.flush() } } catch is TimeoutError { timeouts += 1 }
                    }
                }
                try await stream.shutdown(.write)
                return (try await reader.value, expected, timeouts)
            }.value
            #expect(received.value == expected.value)
            #expect(timeouts > 0, "no flush timed out: the test did not exercise the cancel path")
        }

        @Test("copy from bytes in memory and from a BytesReader into a file")
        func copyFromMemory() async throws {
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            let directory = try makeTemporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let path = directory + "/copied"
            let data = pseudoRandomBytes(300_000, seed: 3)
            let copied = try await runtime.handle.spawn(on: .core(0)) { () -> Int in
                let file = try await File.create(FilePath(path))
                let first = try await copy(from: BytesReader(data), to: file, bufferSize: 4096)
                let second = try await copy(from: data[..<10], to: file)
                try await file.close()
                return first + second
            }.value
            #expect(copied == 300_010)
            #expect(Array(FileManager.default.contents(atPath: path) ?? Data()) == data + data[..<10])
        }

        @Test("standard input and output through the ring: a child copies stdin to stdout in upper case")
        func standardStreams() throws {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: builtExecutable("TorusTestHelper"))
            process.arguments = ["stdio-upper"]
            let input = Pipe()
            let output = Pipe()
            let error = Pipe()
            process.standardInput = input
            process.standardOutput = output
            process.standardError = error
            try process.run()
            let lines = (0..<2000).map { "line \($0) of the input" }
            input.fileHandleForWriting.write(Data((lines.joined(separator: "\n") + "\n").utf8))
            try input.fileHandleForWriting.close()
            let out = output.fileHandleForReading.readDataToEndOfFile()
            let err = error.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            #expect(process.terminationStatus == 0, "\(String(decoding: err, as: UTF8.self))")
            #expect(String(decoding: out, as: UTF8.self) == lines.map { $0.uppercased() + "\n" }.joined())
            #expect(String(decoding: err, as: UTF8.self) == "bye\n")
        }

        @Test("a core task group runs children on the cores it is told, spreads them, and returns every result")
        func coreTaskGroup() async throws {
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            let (pinned, spread, sum) = try await runtime.handle.spawn(on: .core(0)) { () -> ([Int], Set<Int>, Int) in
                try await withThrowingCoreTaskGroup(of: (Int, Int).self) { group in
                    for value in 0..<4 { group.spawn(on: .core(1)) { (value, Core.current!.index) } }
                    var pinned: [Int] = []
                    var sum = 0
                    while let (value, core) = try await group.next() {
                        pinned.append(core)
                        sum += value
                    }
                    for value in 0..<8 { group.spawn { (value, Core.current!.index) } }
                    var spread = Set<Int>()
                    while let (value, core) = try await group.next() {
                        spread.insert(core)
                        sum += value
                    }
                    return (pinned, spread, sum)
                }
            }.value
            #expect(pinned == [1, 1, 1, 1])
            #expect(spread == [0, 1])
            #expect(sum == 6 + 28)
        }

        @Test("timeout(perElement:) throws when an element is late, and iterating on loses no value")
        func timeoutPerElement() async throws {
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            let events = try await runtime.handle.spawn(on: .core(0)) { () -> [String] in
                let (tx, rx) = MPSC.unbounded(Int.self)
                spawn(on: .core(1)) {
                    for value in 0..<3 { try tx.trySend(value) }
                    try await sleep(for: .milliseconds(60))
                    for value in 3..<5 { try tx.trySend(value) }
                    tx.finish()
                }
                var events: [String] = []
                var iterator = rx.timeout(perElement: .milliseconds(20)).makeAsyncIterator()
                while true {
                    do {
                        guard let value = try await iterator.next() else { break }
                        events.append("\(value)")
                    } catch is TimeoutError {
                        if events.last != "timeout" { events.append("timeout") }
                    }
                }
                return events
            }.value
            #expect(events == ["0", "1", "2", "timeout", "3", "4"])
        }
    }
}
