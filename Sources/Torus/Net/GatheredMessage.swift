import Glibc

/// A `struct msghdr` whose iovecs cover several buffers in order, starting some bytes into
/// their concatenation: one `sendmsg` hands them all to the kernel (a gathered write, as
/// `writev`), where one `send` per buffer would pay a submission, a completion and a task
/// resumption each.
final class GatheredMessage {
    /// The most iovecs one `sendmsg` takes (`UIO_MAXIOV`; more is `EMSGSIZE`). Buffers past it
    /// go in the next call, as a short write.
    static let maximumVectors = 1024

    // SAFETY: `header` and `vectors` are allocated here and freed in deinit; `owners` (the
    // IOBuffers or ReceivedBuffers) keep the memory the iovecs point into alive, and the operation table keeps this object alive
    // until the operation's final completion, after which the kernel no longer reads either.
    let header: UnsafeMutablePointer<msghdr>
    let vectors: UnsafeMutablePointer<iovec>
    let owners: [AnyObject]
    /// The bytes the iovecs cover (0: nothing to send).
    let length: Int

    /// The bytes of `buffers[...].bytes[0..<count]`, concatenated, from `offset` on, at most
    /// `maximumLength` of them and at most ``maximumVectors`` buffers' worth.
    convenience init(_ buffers: [IOBuffer], from offset: Int, maximumLength: Int) {
        self.init(owners: buffers, pieces: buffers.lazy.map { (UnsafeRawPointer($0.storage), $0.count) }, from: offset, maximumLength: maximumLength)
    }

    /// The bytes of received chunks, concatenated, from `offset` on (as the IOBuffer form).
    convenience init(_ chunks: [ReceivedBuffer], from offset: Int, maximumLength: Int) {
        self.init(owners: chunks, pieces: chunks.lazy.map { ($0.address, $0.count) }, from: offset, maximumLength: maximumLength)
    }

    /// - Parameters:
    ///   - owners: what keeps the pieces' memory alive until the final completion.
    ///   - pieces: the memory to send, in order: a start and a byte count each.
    private init(owners: [AnyObject], pieces: some Collection<(UnsafeRawPointer, Int)>, from offset: Int, maximumLength: Int) {
        precondition(offset >= 0, "a gathered write from offset \(offset)")
        self.owners = owners
        vectors = .allocate(capacity: min(max(pieces.count, 1), Self.maximumVectors))
        var skip = offset
        var used = 0
        var length = 0
        for (start, available) in pieces where used < Self.maximumVectors && length < maximumLength {
            if skip >= available {
                skip -= available
                continue
            }
            let piece = min(available - skip, maximumLength - length)
            (vectors + used).initialize(to: iovec(iov_base: UnsafeMutableRawPointer(mutating: start + skip), iov_len: piece))
            used += 1
            length += piece
            skip = 0
        }
        precondition(skip == 0, "a gathered write from offset \(offset), past the \(offset - skip) bytes of its buffers")
        self.length = length
        header = .allocate(capacity: 1)
        header.initialize(to: msghdr())
        header.pointee.msg_iov = vectors
        header.pointee.msg_iovlen = used
    }

    deinit {
        header.deallocate()
        vectors.deallocate()
    }
}
