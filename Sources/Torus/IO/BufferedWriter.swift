/// Collects small writes in a buffer and hands them to another writer in large ones (tokio's
/// `BufWriter`): one system call per buffer instead of one per `write`.
///
/// ```swift
/// let out = BufferedWriter(stream)
/// for item in items { try await out.write("\(item)\n") }   // no system call until 16 KiB
/// try await out.flush()                                    // the rest, now
/// ```
///
/// Bytes are written when the buffer is full, on ``flush()``, and never on their own otherwise:
/// flush before waiting for a reply, and before the writer is dropped (a buffer dropped with
/// bytes in it loses them; ``pending`` says how many there are).
///
/// **Cancel safety.** A `write` whose bytes fit in the free space returns without waiting, so
/// it cannot be interrupted: the bytes are in the buffer. A cancelled ``flush()`` (or a `write`
/// cancelled while it flushes to make room) keeps every byte the base writer did not take in
/// the buffer; the next flush continues where it stopped, so nothing is lost or repeated.
/// Only a `write` larger than the free space can be cancelled with part of its bytes
/// accepted; ``pending`` tells how much is buffered.
///
/// Not `Sendable`: one task owns it.
public final class BufferedWriter<Base: AsyncWriter>: AsyncWriter {
    /// The writer it buffers for. Writing to it directly overtakes the bytes buffered here.
    public let base: Base
    private let buffer: IOBuffer

    /// Wraps `base` with a buffer of `capacity` bytes.
    public init(_ base: Base, capacity: Int = 16 << 10) {
        precondition(capacity > 0, "BufferedWriter needs a capacity of at least 1 byte")
        self.base = base
        buffer = IOBuffer(capacity: capacity)
    }

    /// Bytes accepted and not yet handed to the base writer.
    public var pending: Int { buffer.count }

    /// Appends `bytes`, flushing whenever the buffer fills.
    ///
    /// Cancel safety: bytes that fit in the free space are taken without waiting; a larger
    /// write cancelled while it flushes has accepted part of `bytes` (``pending`` and what the
    /// base writer took), and says so only through those.
    public func write(_ bytes: some Collection<UInt8>) async throws {
        if bytes.count <= buffer.freeCapacity {
            buffer.append(bytes)
            return
        }
        var rest = bytes[...]
        while !rest.isEmpty {
            if buffer.freeCapacity == 0 { try await flush() }
            let part = rest.prefix(buffer.freeCapacity)
            buffer.append(part)
            rest = rest.dropFirst(part.count)
        }
        if buffer.freeCapacity == 0 { try await flush() }
    }

    /// Appends the UTF-8 bytes of `text`.
    ///
    /// Cancel safety: as writing its UTF-8 bytes (see ``BufferedWriter``): bytes that fit in the
    /// free space are taken without waiting; a cancelled flush to make room keeps what the base
    /// writer did not take.
    public func write(_ text: String) async throws {
        try await write(text.utf8)
    }

    /// Hands every buffered byte to the base writer.
    ///
    /// Cancel safety: bytes the base writer did not take stay buffered for the next flush.
    public func flush() async throws {
        while buffer.count > 0 {
            let written = try await base.write(buffer, from: 0)
            buffer.removeFirst(written)
        }
    }

    /// ``AsyncWriter`` conformance: buffers `buffer[offset...]` (all of it) and returns its length.
    ///
    /// Cancel safety: see ``BufferedWriter``: what was buffered stays buffered; a write larger than
    /// the free space may be cancelled with part of its bytes accepted (``pending`` says how many
    /// are buffered).
    public func write(_ source: IOBuffer, from offset: Int) async throws -> Int {
        let count = source.count - offset
        let copy = source.withUnsafeBytes { Array($0[offset..<source.count]) }
        try await write(copy)
        return count
    }
}

/// Reads from a byte collection in memory: a reader for tests, fixtures, or sending a
/// prepared reply through ``copy(from:to:bufferSize:)``.
public final class BytesReader: AsyncReader {
    private let bytes: [UInt8]
    private var position = 0

    /// A reader of a copy of `bytes`.
    public init(_ bytes: some Collection<UInt8>) { self.bytes = Array(bytes) }

    /// Bytes not read yet.
    public var remaining: Int { bytes.count - position }

    /// Copies the next bytes; never waits (so cancellation cannot interrupt it). 0 at the end.
    ///
    /// Cancel safety: nothing to lose: the bytes are in memory and the call never waits; a
    /// cancelled task still reads.
    public func read(into buffer: IOBuffer, maxLength: Int) async throws -> Int {
        let n = min(maxLength, buffer.freeCapacity, remaining)
        buffer.append(bytes[position..<(position + n)])
        position += n
        return n
    }
}
