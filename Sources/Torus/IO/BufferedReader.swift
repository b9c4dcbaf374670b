/// Reads from another reader through a buffer, for line-oriented protocols and small reads.
///
/// Not `Sendable`: it holds the bytes read ahead, so one task owns it. Timeouts still work:
/// ``withTimeout(_:isolation:_:)`` runs its body in the calling task.
///
/// **Cancel safety.** Every read here keeps what it has taken from the stream in the reader
/// until it returns it: when a ``readLine(maxLength:)``, ``readUntil(_:maxLength:)`` or
/// ``readExactly(_:)`` is cancelled (or stopped by a deadline) halfway through, the bytes it
/// had gathered stay buffered, and the next call returns them as the start of its result. So a
/// line that arrives in pieces around an idle timeout comes out whole.
public final class BufferedReader<Base: AsyncReader>: AsyncReader {
    /// The reader it buffers. Reading from it directly skips the bytes buffered here.
    public let base: Base
    private let buffer: IOBuffer
    private var start = 0
    /// Bytes that a line, record or exact read has taken out of `buffer` without returning them
    /// yet; they come before `buffer[start...]`. They live here rather than in a local variable
    /// so that a cancelled read loses none of them.
    private var pending: [UInt8] = []

    /// Wraps `base` with a buffer of `capacity` bytes.
    public init(_ base: Base, capacity: Int = 16 << 10) {
        self.base = base
        buffer = IOBuffer(capacity: capacity)
    }

    /// Bytes read ahead and not consumed yet.
    public var buffered: Int { pending.count + buffer.count - start }

    /// Reads buffered bytes first, then from the base reader.
    ///
    /// Cancel safety: bytes are consumed only when they are returned.
    public func read(into target: IOBuffer, maxLength: Int) async throws -> Int {
        if !pending.isEmpty {
            let n = min(pending.count, maxLength, target.freeCapacity)
            target.append(pending[..<n])
            pending.removeFirst(n)
            return n
        }
        if buffered == 0 {
            // Large reads go straight through; small ones refill the buffer.
            if maxLength >= buffer.capacity { return try await base.read(into: target, maxLength: maxLength) }
            guard try await fill() > 0 else { return 0 }
        }
        let n = min(buffer.count - start, maxLength, target.freeCapacity)
        buffer.withUnsafeBytes { target.append($0[start..<(start + n)]) }
        start += n
        return n
    }

    /// The next line without its `\n` (or `\r\n`); the last line may lack a terminator; nil at
    /// the end of the stream.
    ///
    /// Cancel safety: a cancelled call keeps the part of the line it has read; the next call
    /// returns the whole line.
    /// - Throws: ``ReadLimitExceeded`` for a line longer than `maxLength`, however it arrived
    ///   (its bytes stay buffered).
    public func readLine(maxLength: Int = 64 << 10) async throws -> String? {
        // Room for the terminator (`\r\n`) on top of the line; saturating, for `.max`.
        let (withTerminator, overflow) = maxLength.addingReportingOverflow(2)
        guard let record = try await readUntil(UInt8(ascii: "\n"), maxLength: overflow ? .max : withTerminator) else { return nil }
        var line = record[...]
        if line.last == UInt8(ascii: "\n") { line.removeLast() }
        if line.last == UInt8(ascii: "\r") { line.removeLast() }
        if line.count > maxLength {
            // Refused like a line still missing its end: its bytes stay buffered.
            pending.insert(contentsOf: record, at: 0)
            throw ReadLimitExceeded(limit: maxLength)
        }
        return String(decoding: line, as: UTF8.self)
    }

    /// The bytes up to and including the next `delimiter` (tokio's `read_until`); at the end of
    /// the stream, what is left without a delimiter, or nil if nothing is.
    ///
    /// Cancel safety: a cancelled call keeps what it has read; the next call returns it.
    /// - Throws: ``ReadLimitExceeded`` when more than `maxLength` bytes come before the
    ///   delimiter, whether it has arrived yet or not (they stay buffered).
    public func readUntil(_ delimiter: UInt8, maxLength: Int = 64 << 10) async throws -> [UInt8]? {
        // `pending` may hold the delimiter: bytes kept by a cancelled read of another kind
        // (`readExactly`, `readUntil` of another delimiter).
        if let found = pending.firstIndex(of: delimiter) {
            if found > maxLength { throw ReadLimitExceeded(limit: maxLength) }
            let record = Array(pending[...found])
            pending.removeFirst(found + 1)
            return record
        }
        while true {
            let found: Int? = buffer.withUnsafeBytes { bytes in
                bytes[start..<buffer.count].firstIndex(of: delimiter)
            }
            if let found {
                // The same limit whether the record came in one read or in several.
                if pending.count + (found - start) > maxLength { throw ReadLimitExceeded(limit: maxLength) }
                var record = pending
                pending = []
                buffer.withUnsafeBytes { record.append(contentsOf: $0[start...found]) }
                start = found + 1
                return record
            }
            movePendingBytes()
            if pending.count > maxLength { throw ReadLimitExceeded(limit: maxLength) }
            if try await fill() == 0 {
                if pending.isEmpty { return nil }
                defer { pending = [] }
                return pending
            }
        }
    }

    /// Exactly `count` bytes.
    ///
    /// Cancel safety: a cancelled call keeps what it has read; the next call returns it.
    /// - Throws: ``UnexpectedEndOfStream`` if the stream ends first (the bytes read stay
    ///   buffered); I/O errors.
    public func readExactly(_ count: Int) async throws -> [UInt8] {
        while buffered < count {
            movePendingBytes()
            if try await fill() == 0 { throw UnexpectedEndOfStream(expected: count, received: buffered) }
        }
        var result: [UInt8] = []
        result.reserveCapacity(count)
        let fromPending = min(pending.count, count)
        result.append(contentsOf: pending[..<fromPending])
        pending.removeFirst(fromPending)
        let fromBuffer = count - fromPending
        buffer.withUnsafeBytes { result.append(contentsOf: $0[start..<(start + fromBuffer)]) }
        start += fromBuffer
        return result
    }

    /// The lines until the end of the stream.
    public var lines: Lines { Lines(reader: self) }

    /// The lines of a ``BufferedReader``, as ``BufferedReader/readLine(maxLength:)`` returns them.
    public struct Lines: AsyncSequence {
        let reader: BufferedReader
        /// Returns an iterator that reads one line per call.
        public func makeAsyncIterator() -> Iterator { Iterator(reader: reader) }
        /// Reads one line per call with ``BufferedReader/readLine(maxLength:)``.
        public struct Iterator: AsyncIteratorProtocol {
            let reader: BufferedReader
            /// The next line, without its terminator; nil at the end of the stream.
            ///
            /// Cancel safety: as ``BufferedReader/readLine(maxLength:)``: the part of a line
            /// already read stays buffered.
            public mutating func next() async throws -> String? { try await reader.readLine() }
        }
    }

    /// Moves the unread part of `buffer` to `pending`, so the buffer can be refilled whole.
    private func movePendingBytes() {
        guard start < buffer.count else { return }
        buffer.withUnsafeBytes { pending.append(contentsOf: $0[start..<buffer.count]) }
        start = buffer.count
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
