import Glibc

/// The bytes a ``SendQueue`` has accepted and the kernel has not yet taken, in order: pieces of
/// memory, each kept alive by its owner. Bytes handed over by copy go into staging buffers of
/// the queue's own (small replies land one after another in one buffer, so they leave in one
/// send); received chunks are queued as they are, without a copy. Core-thread only, like the
/// queue.
///
/// The kernel reads the front pieces while a send is in flight: appending never touches those
/// bytes (a copy goes after the last staged byte, in memory no iovec covers), and only
/// ``consume(_:)``, called with a completion's byte count, drops bytes from the front.
struct OutgoingBytes: ~Copyable {
    /// One contiguous run of bytes. SAFETY: `owner` (an `IOBuffer` staging buffer or a
    /// `ReceivedBuffer`) keeps `start..<start + count` alive while the piece is queued; it is
    /// let go the moment the piece has been sent (a received chunk goes back to the pool then).
    struct Piece {
        var owner: AnyObject?
        var start: UnsafeRawPointer
        var count: Int
        /// The owner is one of this queue's staging buffers (reusable once sent).
        let isStaging: Bool
        /// The owner is a received chunk in a provided buffer of its core's pool.
        var holdsProvidedBuffer = false
    }

    /// The size of a staging buffer: bytes copied in smaller amounts share one.
    static let stagingSize = 16 << 10

    private var pieces: [Piece] = []
    /// Index of the first piece not yet sent: sent pieces are dropped in bulk, not one by one
    /// from the front of the array.
    private var head = 0
    /// One sent staging buffer kept for the next copies (no allocation per reply).
    private var spare: IOBuffer?
    /// Bytes queued (every piece from `head` on).
    private(set) var byteCount = 0
    /// Queued pieces that hold a provided buffer of a core's pool.
    private(set) var providedBufferCount = 0

    init() {}

    var isEmpty: Bool { byteCount == 0 }

    /// How many pieces are queued.
    var pieceCount: Int { pieces.count - head }

    /// The first queued piece's memory (a send of one piece needs no iovec).
    var first: (start: UnsafeRawPointer, count: Int) { (pieces[head].start, pieces[head].count) }

    /// Points `vectors` at the queued bytes, in order: at most `maximumVectors` pieces and
    /// `maximumLength` bytes. Returns how many iovecs it filled.
    func fill(_ vectors: UnsafeMutablePointer<iovec>, maximumVectors: Int, maximumLength: Int) -> Int {
        // Through the array's memory: copying a piece out would retain and release its owner.
        pieces.withUnsafeBufferPointer { pieces in
            var used = 0
            var length = 0
            var index = head
            while index < pieces.count, used < maximumVectors, length < maximumLength {
                let taken = min(pieces[index].count, maximumLength - length)
                (vectors + used).initialize(to: iovec(iov_base: UnsafeMutableRawPointer(mutating: pieces[index].start), iov_len: taken))
                used += 1
                length += taken
                index += 1
            }
            return used
        }
    }

    /// Queues a copy of `bytes`.
    mutating func append(copying bytes: UnsafeRawBufferPointer) {
        guard var source = bytes.baseAddress, bytes.count > 0 else { return }
        var left = bytes.count
        byteCount += left
        // After the last staged byte, if the last piece is a staging buffer with room.
        if head < pieces.count, let last = pieces.last, last.isStaging {
            let buffer = unsafeDowncast(last.owner!, to: IOBuffer.self)
            let room = buffer.capacity - buffer.count
            if room > 0 && last.start + last.count == UnsafeRawPointer(buffer.storage + buffer.count) {
                let taken = min(room, left)
                (buffer.storage + buffer.count).copyMemory(from: source, byteCount: taken)
                buffer.count += taken
                pieces[pieces.count - 1].count += taken
                source += taken
                left -= taken
            }
        }
        guard left > 0 else { return }
        let buffer: IOBuffer
        if left <= OutgoingBytes.stagingSize, let spare {
            buffer = spare
            self.spare = nil
        } else {
            buffer = IOBuffer(capacity: max(left, OutgoingBytes.stagingSize))
        }
        buffer.storage.copyMemory(from: source, byteCount: left)
        buffer.count = left
        pieces.append(Piece(owner: buffer, start: UnsafeRawPointer(buffer.storage), count: left, isStaging: true))
    }

    /// Queues a received chunk without copying it (it stays out of the provided-buffer pool until
    /// it has been sent), unless the queue already holds its share of the pool: then a copy.
    ///
    /// The share is what one connection's ``ReceivedChunks`` may hold waiting for its consumer
    /// (``receiveQueueLimit(pool:)``): the byte limit alone does not bound the buffers, since a
    /// peer that sends small messages and does not read its replies would have the queue keep
    /// one whole provided buffer per message and empty the core's pool, starving every other
    /// connection on the core.
    mutating func append(_ chunk: ReceivedBuffer) {
        guard chunk.count > 0 else { return }
        var holdsProvidedBuffer = false
        if case .provided = chunk.storage {
            guard providedBufferCount < receiveQueueLimit(pool: chunk.core.receiveBuffers) else {
                return append(copying: UnsafeRawBufferPointer(start: chunk.address, count: chunk.count))
            }
            holdsProvidedBuffer = true
            providedBufferCount += 1
        }
        byteCount += chunk.count
        pieces.append(
            Piece(owner: chunk, start: chunk.address, count: chunk.count, isStaging: false, holdsProvidedBuffer: holdsProvidedBuffer))
    }

    /// Drops `sent` bytes from the front: the kernel has taken them.
    mutating func consume(_ sent: Int) {
        precondition(sent >= 0 && sent <= byteCount, "a send of \(sent) bytes out of \(byteCount) queued")
        byteCount -= sent
        var left = sent
        while left > 0 {
            let piece = pieces[head]
            if left < piece.count {
                pieces[head].start += left
                pieces[head].count -= left
                return
            }
            left -= piece.count
            dropFront()
        }
        if byteCount == 0 { removeSent() }
    }

    /// Drops every queued byte (the connection failed); returns how many there were.
    @discardableResult
    mutating func removeAll() -> Int {
        let dropped = byteCount
        pieces.removeAll()
        head = 0
        byteCount = 0
        providedBufferCount = 0
        return dropped
    }

    private mutating func dropFront() {
        let owner = pieces[head].owner
        pieces[head].owner = nil
        if pieces[head].holdsProvidedBuffer { providedBufferCount -= 1 }
        if pieces[head].isStaging, let owner {
            let buffer = unsafeDowncast(owner, to: IOBuffer.self)
            if buffer.capacity == OutgoingBytes.stagingSize {
                buffer.count = 0
                spare = buffer
            }
        }
        head += 1
        // Sent pieces are removed together, once half the array is behind the head.
        if head >= 64 && head * 2 >= pieces.count { removeSent() }
    }

    private mutating func removeSent() {
        if head == pieces.count {
            pieces.removeAll(keepingCapacity: true)
        } else {
            pieces.removeFirst(head)
        }
        head = 0
    }
}
