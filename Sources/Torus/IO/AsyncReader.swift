/// Something bytes can be read from: files, sockets, read halves, buffered readers.
public protocol AsyncReader {
    /// Reads at most `maxLength` bytes into the free space of `buffer` (after its
    /// ``IOBuffer/count``), adds what was read to `count`, and returns how many bytes that was;
    /// 0 means the end of the stream.
    func read(into buffer: IOBuffer, maxLength: Int) async throws -> Int
}

/// Something bytes can be written to.
public protocol AsyncWriter {
    /// Writes some of the bytes `buffer[offset..<buffer.count]` and returns how many (a short
    /// write is possible; ``writeAll(_:)`` loops).
    func write(_ buffer: IOBuffer, from offset: Int) async throws -> Int
}

extension AsyncReader {
    /// Reads into all the free space of `buffer`; 0 means the end of the stream.
    public func read(into buffer: IOBuffer) async throws -> Int {
        try await read(into: buffer, maxLength: buffer.freeCapacity)
    }

    /// Reads exactly `count` bytes.
    /// - Throws: ``UnexpectedEndOfStream`` if the stream ends first (the bytes read so far are
    ///   in the error's count only); I/O errors.
    public func readExactly(_ count: Int) async throws -> [UInt8] {
        let buffer = IOBuffer(capacity: max(1, count))
        try await readExactly(count, into: buffer)
        return buffer.bytes
    }

    /// Reads exactly `count` bytes into `buffer` (appending; they must fit).
    public func readExactly(_ count: Int, into buffer: IOBuffer) async throws {
        precondition(count <= buffer.freeCapacity, "readExactly(\(count)) into a buffer with \(buffer.freeCapacity) bytes free")
        let target = buffer.count + count
        let start = buffer.count
        while buffer.count < target {
            // Never ask for more than is missing: no byte beyond `count` is consumed.
            let n = try await read(into: buffer, maxLength: target - buffer.count)
            if n == 0 { throw UnexpectedEndOfStream(expected: count, received: buffer.count - start) }
        }
    }

    /// Reads until the end of the stream.
    /// - Parameter limit: the most bytes to accept; more throws ``ReadLimitExceeded``.
    public func readToEnd(limit: Int = 1 << 30, chunkSize: Int = 64 << 10) async throws -> [UInt8] {
        var result: [UInt8] = []
        let buffer = IOBuffer(capacity: chunkSize)
        while true {
            buffer.clear()
            let n = try await read(into: buffer)
            if n == 0 { return result }
            if result.count + n > limit { throw ReadLimitExceeded(limit: limit) }
            buffer.withUnsafeBytes { result.append(contentsOf: $0) }
        }
    }
}

/// ``AsyncReader/readToEnd(limit:chunkSize:)`` met more bytes than its limit.
public struct ReadLimitExceeded: Error, Sendable, CustomStringConvertible {
    public var limit: Int
    public var description: String { "the stream is longer than the limit of \(limit) bytes" }
}

extension AsyncWriter {
    /// Writes every byte of `buffer[0..<count]`, looping over short writes.
    public func writeAll(_ buffer: IOBuffer) async throws {
        var offset = 0
        while offset < buffer.count {
            offset += try await write(buffer, from: offset)
        }
    }

    /// Writes every byte of `bytes` (copied into an ``IOBuffer`` the kernel can own).
    public func writeAll(_ bytes: some Collection<UInt8>) async throws {
        guard !bytes.isEmpty else { return }
        try await writeAll(IOBuffer(bytes))
    }

    /// Writes the UTF-8 bytes of `text`.
    public func writeAll(_ text: String) async throws {
        try await writeAll(Array(text.utf8))
    }
}

/// Copies everything from `reader` to `writer` and returns the number of bytes.
public func copy(from reader: some AsyncReader, to writer: some AsyncWriter, bufferSize: Int = 64 << 10) async throws -> Int {
    let buffer = IOBuffer(capacity: bufferSize)
    var total = 0
    while true {
        buffer.clear()
        let n = try await reader.read(into: buffer)
        if n == 0 { return total }
        try await writer.writeAll(buffer)
        total += n
    }
}
