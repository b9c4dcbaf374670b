import Glibc

/// Memory for I/O that the kernel may read or write: a fixed-capacity byte buffer owned by
/// Torus's operations while they are in flight.
///
/// The ownership rule that makes misuse impossible without `unsafe`: an operation keeps a strong
/// reference to the buffer until its *final* completion, even when the awaiting task was
/// cancelled, and the awaiting call returns only after that completion. So the kernel never
/// writes into memory that was freed, and never writes into the buffer after the call that
/// used it returned. `IOBuffer` is not `Sendable`: one task uses it at a time.
///
/// Reads append at ``count`` (up to ``capacity``); writes send the bytes `0..<count` (or a
/// sub-range).
public final class IOBuffer {
    // SAFETY: `storage` is allocated here with `capacity` bytes and freed in deinit; operations
    // retain the IOBuffer (their keep-alive) until their final CQE, so it outlives every use.
    let storage: UnsafeMutableRawPointer
    /// The size of the memory.
    public let capacity: Int
    /// The alignment of the memory (4096 for `O_DIRECT`).
    public let alignment: Int
    /// Valid bytes, from the start.
    // Unchecked exclusivity: an Int whose overlapping accesses cannot corrupt anything (the
    // didSet keeps it in bounds); the dynamic check was a runtime call on every read of it,
    // visible in a pipelined server's profile.
    @exclusivity(unchecked) public var count: Int {
        didSet { precondition(count >= 0 && count <= capacity, "IOBuffer.count \(count) outside 0...\(capacity)") }
    }
    /// A stream read called from an actor is waiting to append to this buffer (see
    /// `SocketHandle.receiveFromActor`): a second one, from the same actor re-entered, is
    /// refused before it takes a byte from its stream. Only touched under the buffer's owner's
    /// isolation.
    @exclusivity(unchecked) var awaitsStreamBytes = false

    /// A buffer of `capacity` bytes, aligned to `alignment` (a power of two).
    public init(capacity: Int, alignment: Int = 16) {
        precondition(capacity > 0, "IOBuffer needs a positive capacity")
        precondition(alignment > 0 && alignment & (alignment - 1) == 0, "alignment must be a power of two")
        self.capacity = capacity
        self.alignment = alignment
        self.count = 0
        var pointer: UnsafeMutableRawPointer?
        let result = posix_memalign(&pointer, max(alignment, MemoryLayout<UnsafeRawPointer>.size), capacity)
        precondition(result == 0 && pointer != nil, "posix_memalign(\(capacity)) failed: out of memory")
        storage = pointer!
    }

    /// A buffer holding a copy of `bytes`.
    public convenience init(_ bytes: some Collection<UInt8>) {
        self.init(capacity: max(1, bytes.count))
        append(bytes)
    }

    deinit { free(storage) }

    /// Bytes free after ``count``.
    public var freeCapacity: Int { capacity - count }

    /// A copy of the valid bytes.
    public var bytes: [UInt8] { Array(UnsafeRawBufferPointer(start: storage, count: count)) }

    /// The valid bytes, for reading without a copy (do not let the pointer escape).
    public func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try body(UnsafeRawBufferPointer(start: storage, count: count))
    }

    /// The whole memory, for filling by hand; set ``count`` afterwards.
    public func withUnsafeMutableBytes<R>(_ body: (UnsafeMutableRawBufferPointer) throws -> R) rethrows -> R {
        try body(UnsafeMutableRawBufferPointer(start: storage, count: capacity))
    }

    /// Appends `bytes` (they must fit).
    public func append(_ bytes: some Collection<UInt8>) {
        precondition(bytes.count <= freeCapacity, "IOBuffer overflow: \(bytes.count) bytes into \(freeCapacity) free")
        let target = UnsafeMutableRawBufferPointer(start: storage + count, count: bytes.count)
        target.copyBytes(from: bytes)
        count += bytes.count
    }

    /// Drops the first `n` valid bytes, moving the rest to the front.
    public func removeFirst(_ n: Int) {
        precondition(n >= 0 && n <= count)
        if n < count { memmove(storage, storage + n, count - n) }
        count -= n
    }

    /// Forgets the contents.
    public func clear() { count = 0 }
}
