/// Reads from another reader through a buffer, for line-oriented protocols and small reads.
///
/// Not `Sendable`: it holds the bytes read ahead, so one task owns it.
public final class BufferedReader<Base: AsyncReader>: AsyncReader {
    public let base: Base
    private let buffer: IOBuffer
    private var start = 0

    /// Wraps `base` with a buffer of `capacity` bytes.
    public init(_ base: Base, capacity: Int = 16 << 10) {
        self.base = base
        buffer = IOBuffer(capacity: capacity)
    }

    /// Bytes read ahead and not consumed yet.
    public var buffered: Int { buffer.count - start }

    public func read(into target: IOBuffer, maxLength: Int) async throws -> Int {
        if buffered == 0 {
            // Large reads go straight through; small ones refill the buffer.
            if maxLength >= buffer.capacity { return try await base.read(into: target, maxLength: maxLength) }
            guard try await fill() > 0 else { return 0 }
        }
        let n = min(buffered, maxLength, target.freeCapacity)
        buffer.withUnsafeBytes { target.append($0[start..<(start + n)]) }
        start += n
        return n
    }

    /// The next line without its `\n` (or `\r\n`); the last line may lack a terminator; nil at
    /// the end of the stream.
    /// - Throws: ``ReadLimitExceeded`` for a line longer than `maxLength`.
    public func readLine(maxLength: Int = 64 << 10) async throws -> String? {
        var line: [UInt8] = []
        while true {
            if buffered == 0, try await fill() == 0 {
                return line.isEmpty ? nil : String(decoding: line, as: UTF8.self)
            }
            let found: Int? = buffer.withUnsafeBytes { bytes in
                bytes[start..<buffer.count].firstIndex(of: UInt8(ascii: "\n"))
            }
            let end = found ?? buffer.count
            buffer.withUnsafeBytes { line.append(contentsOf: $0[start..<end]) }
            if line.count > maxLength { throw ReadLimitExceeded(limit: maxLength) }
            if let found {
                start = found + 1
                if line.last == UInt8(ascii: "\r") { line.removeLast() }
                return String(decoding: line, as: UTF8.self)
            }
            start = buffer.count
        }
    }

    /// The lines until the end of the stream.
    public var lines: Lines { Lines(reader: self) }

    public struct Lines: AsyncSequence {
        let reader: BufferedReader
        public func makeAsyncIterator() -> Iterator { Iterator(reader: reader) }
        public struct Iterator: AsyncIteratorProtocol {
            let reader: BufferedReader
            public mutating func next() async throws -> String? { try await reader.readLine() }
        }
    }

    private func fill() async throws -> Int {
        if start == buffer.count {
            buffer.clear()
            start = 0
        } else if start > 0 {
            buffer.removeFirst(start)
            start = 0
        }
        return try await base.read(into: buffer)
    }
}
