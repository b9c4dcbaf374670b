/// Something bytes can be read from: files, sockets, read halves, buffered readers.
///
/// Where it runs: Torus's reads and writes are plain `nonisolated async` functions, so each
/// call runs on the calling task's core (its executor preference), whatever actor the caller
/// is isolated to: a default actor shared by tasks on several cores, or the main actor inside
/// a task spawned on the runtime, still does its I/O through its own task's core and ring.
/// Below that entry, Torus's internal I/O functions are `nonisolated(nonsending)`: they stay
/// on that core instead of switching executors at every call level.
public protocol AsyncReader {
    /// Reads at most `maxLength` bytes into the free space of `buffer` (after its
    /// ``IOBuffer/count``), adds what was read to `count`, and returns how many bytes that was;
    /// 0 means the end of the stream.
    ///
    /// Cancel safety (what every Torus reader guarantees): a cancelled read either consumes
    /// nothing from the stream and throws, or, if the bytes arrived first, appends and returns
    /// them. No byte is taken from the stream and dropped.
    func read(into buffer: IOBuffer, maxLength: Int) async throws -> Int
}

/// Something bytes can be written to. Where it runs: as ``AsyncReader``.
public protocol AsyncWriter {
    /// Writes some of the bytes `buffer[offset..<buffer.count]` and returns how many (a short
    /// write is possible; ``AsyncWriter/writeAll(_:)-(IOBuffer)`` loops).
    ///
    /// Cancel safety (what every Torus writer guarantees): a cancelled write either sends
    /// nothing and throws, or returns the count of what it sent first.
    func write(_ buffer: IOBuffer, from offset: Int) async throws -> Int
}

extension AsyncReader {
    /// Reads into all the free space of `buffer`; 0 means the end of the stream.
    ///
    /// Cancel safety: as ``read(into:maxLength:)``.
    public func read(into buffer: IOBuffer) async throws -> Int {
        try await read(into: buffer, maxLength: buffer.freeCapacity)
    }

    /// Reads exactly `count` bytes.
    ///
    /// Cancel safety: **not cancel safe.** The bytes read before a cancellation (or a deadline)
    /// stopped the call were taken from the stream and are dropped with the call's own buffer.
    /// Under cancellation or a timeout use ``BufferedReader/readExactly(_:)``, which keeps them
    /// for the next call, or ``readExactly(_:into:)``, which leaves them in your buffer.
    /// - Throws: ``UnexpectedEndOfStream`` if the stream ends first (the bytes read so far are
    ///   in the error's count only); I/O errors.
    public func readExactly(_ count: Int) async throws -> [UInt8] {
        let buffer = IOBuffer(capacity: max(1, count))
        try await readExactly(count, into: buffer)
        return buffer.bytes
    }

    /// Reads exactly `count` bytes into `buffer` (appending; they must fit).
    ///
    /// Cancel safety: nothing is lost: the bytes read before a cancellation stopped the call
    /// are appended to `buffer` (its ``IOBuffer/count`` says how many), and no byte beyond
    /// `count` is consumed. To finish, call it again for the rest: `count` minus what arrived.
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
    ///
    /// Cancel safety: **not cancel safe.** A cancelled call drops everything it had read; the
    /// stream cannot give those bytes again (a file can simply be read again).
    /// - Parameters:
    ///   - limit: the most bytes to accept; more throws ``ReadLimitExceeded``.
    ///   - chunkSize: the size of each read.
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
    /// The limit that was passed.
    public var limit: Int
    /// Says the limit, in bytes.
    public var description: String { "the stream is longer than the limit of \(limit) bytes" }
}

extension AsyncWriter {
    /// Writes every byte of `buffer[0..<count]`, looping over short writes.
    ///
    /// Cancel safety: cancellation (or a deadline) stops the loop between writes, and a write
    /// the kernel completed first is counted, but the count is not reported: a cancelled call
    /// may have sent any prefix of the buffer, and calling it again would send that prefix
    /// twice. Where that matters (a stream that must not repeat bytes), use
    /// ``writeAll(_:written:)``, which says how far it got and resumes from there.
    public func writeAll(_ buffer: IOBuffer) async throws {
        var written = 0
        try await writeAll(buffer, written: &written)
    }

    /// Writes `buffer[written..<count]`, advancing `written` past every byte that goes out; a
    /// resumable ``AsyncWriter/writeAll(_:)-(IOBuffer)``.
    ///
    /// ```swift
    /// var written = 0
    /// do {
    ///     try await withTimeout(.seconds(5)) { try await stream.writeAll(reply, written: &written) }
    /// } catch is TimeoutError {
    ///     // reply[0..<written] went out; try again later from there, or give up knowing how much
    /// }
    /// ```
    ///
    /// Cancel safety: when a cancellation, a deadline or an I/O error stops the call, `written`
    /// counts exactly the bytes the writer accepted (a write the kernel completed just before
    /// the cancel included), so calling it again with the same `written` sends the rest, none
    /// twice. The count travels in `written` rather than in the error, so the error stays the
    /// `CancellationError` or ``TimeoutError`` that every other wait throws.
    public func writeAll(_ buffer: IOBuffer, written: inout Int) async throws {
        precondition(written >= 0 && written <= buffer.count, "writeAll resumed at \(written) of \(buffer.count) bytes")
        while written < buffer.count {
            written += try await write(buffer, from: written)
        }
    }

    /// Writes every byte of `bytes` (copied into an ``IOBuffer`` the kernel can own).
    ///
    /// Cancel safety: as ``AsyncWriter/writeAll(_:)-(IOBuffer)``: a cancelled call may have sent a prefix, and does
    /// not say how long.
    public func writeAll(_ bytes: some Collection<UInt8>) async throws {
        guard !bytes.isEmpty else { return }
        try await writeAll(IOBuffer(bytes))
    }

    /// Writes the UTF-8 bytes of `text`.
    ///
    /// Cancel safety: as ``AsyncWriter/writeAll(_:)-(IOBuffer)``.
    public func writeAll(_ text: String) async throws {
        try await writeAll(Array(text.utf8))
    }
}

/// Copies everything from `reader` to `writer` and returns the number of bytes.
///
/// Cancel safety: **not cancel safe.** A cancelled copy may have read up to `bufferSize` bytes
/// that it had not written yet, and those are dropped; how many bytes went out is not reported
/// either. Stop a copy only when the whole transfer is being abandoned.
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
