import Foundation
import Testing
import TorusTestSupport

@testable import Torus

// Issue #16, item 5: `RawSpan` views of received and I/O buffers, parsed in place.

/// A toy frame parser reading in place: frames of a 2-byte big-endian length and that many
/// bytes; each complete frame gives its length and the sum of its bytes.
private func parseFrames(_ bytes: RawSpan) -> [[Int]] {
    var frames: [[Int]] = []
    var offset = 0
    while offset + 2 <= bytes.byteCount {
        let length = Int(UInt16(bigEndian: bytes.unsafeLoadUnaligned(fromByteOffset: offset, as: UInt16.self)))
        guard offset + 2 + length <= bytes.byteCount else { break }
        var sum = 0
        for index in (offset + 2)..<(offset + 2 + length) { sum += Int(bytes.unsafeLoad(fromByteOffset: index, as: UInt8.self)) }
        frames.append([length, sum])
        offset += 2 + length
    }
    return frames
}

/// The same parser over an array copy, for comparison.
private func parseFrames(_ bytes: [UInt8]) -> [[Int]] {
    var frames: [[Int]] = []
    var offset = 0
    while offset + 2 <= bytes.count {
        let length = Int(bytes[offset]) << 8 | Int(bytes[offset + 1])
        guard offset + 2 + length <= bytes.count else { break }
        frames.append([length, bytes[(offset + 2)..<(offset + 2 + length)].reduce(0) { $0 + Int($1) }])
        offset += 2 + length
    }
    return frames
}

/// Frames of lengths 1...`count`, each byte its frame's index plus its position.
private func sampleFrames(count: Int) -> [UInt8] {
    var bytes: [UInt8] = []
    for length in 1...count {
        bytes += [UInt8(length >> 8), UInt8(length & 0xff)]
        bytes += (0..<length).map { UInt8(truncatingIfNeeded: length &+ $0) }
    }
    return bytes
}

extension RuntimeSuite {
    @Suite("RawSpan views")
    struct RawSpanViewTests {
        @Test("a received chunk and an IOBuffer parse in place through RawSpan as they do from an array copy")
        func rawSpans() async throws {
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            let sent = sampleFrames(count: 40)
            let outcome = try await runtime.handle.spawn(on: .core(0)) { () -> [String] in
                let (client, server) = try await connectedPair()
                try await client.writeAll(IOBuffer(sent))
                try await client.shutdown(.write)
                var received: [UInt8] = []
                var agreed = true
                var frames = 0
                for try await chunk in try server.receivedChunks() {
                    let span = chunk.rawSpan
                    let copy = chunk.bytes
                    agreed =
                        agreed && span.byteCount == chunk.count && parseFrames(span) == parseFrames(copy)
                        && chunk.withBytes { parseFrames($0) } == parseFrames(copy)
                    frames += parseFrames(span).count
                    for offset in span.byteOffsets { received.append(span.unsafeLoad(fromByteOffset: offset, as: UInt8.self)) }
                }
                try await client.close()
                try await server.close()
                // An IOBuffer: the span shows the valid bytes, and a new span sees a change.
                let buffer = IOBuffer(capacity: sent.count)
                buffer.append(sent)
                let whole = parseFrames(buffer.rawSpan) == parseFrames(sent) && buffer.withBytes { $0.byteCount } == sent.count
                buffer.removeFirst(3)  // the first frame (length 1)
                let rest = parseFrames(buffer.rawSpan) == Array(parseFrames(sent).dropFirst())
                return ["\(received == sent) \(agreed) \(frames > 0)", "\(whole) \(rest)", "\(parseFrames(sent).count)"]
            }.value
            #expect(outcome == ["true true true", "true true", "40"])
        }
    }
}
