import Glibc

/// A `struct msghdr` whose iovecs cover several buffers in order, starting some bytes into
/// their concatenation: one `sendmsg` hands them all to the kernel (a gathered write, as
/// `writev`), where one `send` per buffer would pay a submission, a completion and a task
/// resumption each.
final class GatheredMessage {
    /// The most iovecs one `sendmsg` takes (`UIO_MAXIOV`; more is `EMSGSIZE`). Buffers past it
    /// go in the next call, as a short write.
    static let maximumVectors = 1024

    // SAFETY: `header` and `vectors` are allocated here and freed in deinit; `buffers` keeps
    // the memory the iovecs point into alive, and the operation table keeps this object alive
    // until the operation's final completion, after which the kernel no longer reads either.
    let header: UnsafeMutablePointer<msghdr>
    let vectors: UnsafeMutablePointer<iovec>
    let buffers: [IOBuffer]
    /// The bytes the iovecs cover (0: nothing to send).
    let length: Int

    /// The bytes of `buffers[...].bytes[0..<count]`, concatenated, from `offset` on, at most
    /// `maximumLength` of them and at most ``maximumVectors`` buffers' worth.
    init(_ buffers: [IOBuffer], from offset: Int, maximumLength: Int) {
        precondition(offset >= 0, "a gathered write from offset \(offset)")
        self.buffers = buffers
        vectors = .allocate(capacity: min(max(buffers.count, 1), Self.maximumVectors))
        var skip = offset
        var used = 0
        var length = 0
        for buffer in buffers where used < Self.maximumVectors && length < maximumLength {
            let available = buffer.count
            if skip >= available {
                skip -= available
                continue
            }
            let piece = min(available - skip, maximumLength - length)
            (vectors + used).initialize(to: iovec(iov_base: buffer.storage + skip, iov_len: piece))
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
