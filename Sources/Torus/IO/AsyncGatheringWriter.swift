/// A writer that hands several buffers to the kernel in one call (`sendmsg` with an iovec per
/// buffer, as `writev`): the stream sockets (``TCPStream``, its ``WriteHalf``, ``UnixStream``).
///
/// Write several buffers at once where a program has them ready: a header and a body, or the
/// replies to a pipeline of requests. Each call to the kernel has a fixed cost (a submission,
/// a completion, a task resumption, and on the peer's side usually a wake-up), so eight 64 KiB
/// buffers in one gathered write cost about half the CPU of eight writes awaited one by one
/// (docs/benchmarks.md, "TCP").
public protocol AsyncGatheringWriter: AsyncWriter {
    /// Writes some of the bytes of `buffers` (each one's `[0..<count]`, in order), starting
    /// `offset` bytes into their concatenation, and returns how many: a short write is
    /// possible (``AsyncGatheringWriter/writeAll(_:written:)-([IOBuffer],_)`` loops). At most
    /// 1,024 buffers go in one call.
    ///
    /// Cancel safety: as ``AsyncWriter/write(_:from:)``: a cancelled write either sends
    /// nothing and throws, or returns the count of what it sent first.
    func write(_ buffers: [IOBuffer], from offset: Int) async throws -> Int
}

extension AsyncGatheringWriter {
    /// Writes every byte of `buffers`, in order, looping over short writes.
    ///
    /// Cancel safety: as ``AsyncWriter/writeAll(_:)-(IOBuffer)``: cancellation stops the loop
    /// between writes, and how much went out is not reported. Use
    /// ``AsyncGatheringWriter/writeAll(_:written:)-([IOBuffer],_)`` to know it and resume.
    public func writeAll(_ buffers: [IOBuffer]) async throws {
        var written = 0
        try await writeAll(buffers, written: &written)
    }

    /// Writes the bytes of `buffers` from `written` on (counted across them), advancing
    /// `written` past every byte that goes out: a resumable ``AsyncGatheringWriter/writeAll(_:)-([IOBuffer])``.
    ///
    /// Cancel safety: when a cancellation, a deadline or an I/O error stops the call, `written`
    /// counts exactly the bytes the writer accepted, so calling it again with the same
    /// `written` sends the rest, none twice.
    public func writeAll(_ buffers: [IOBuffer], written: inout Int) async throws {
        let total = buffers.reduce(0) { $0 + $1.count }
        precondition(written >= 0 && written <= total, "writeAll resumed at \(written) of \(total) bytes")
        while written < total {
            written += try await write(buffers, from: written)
        }
    }
}
