import Glibc
import TorusRing

/// Bytes a multishot receive delivered into one of the core's provided buffers.
///
/// The buffer goes back to the kernel when this object is released, so hold it only as long as
/// you need the bytes (or copy them out). Not `Sendable`: it belongs to the core that received it.
public final class ReceivedBuffer {
    let core: Core
    let pool: ProvidedBufferRing
    let id: UInt16
    /// The number of bytes received.
    public let count: Int

    init(core: Core, pool: ProvidedBufferRing, id: UInt16, count: Int) {
        self.core = core
        self.pool = pool
        self.id = id
        self.count = count
    }

    /// The received bytes (do not let the pointer escape).
    public func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try body(UnsafeRawBufferPointer(start: pool.address(of: id), count: count))
    }

    /// A copy of the received bytes.
    public var bytes: [UInt8] { withUnsafeBytes { Array($0) } }

    var address: UnsafeRawPointer { UnsafeRawPointer(pool.address(of: id)) }

    deinit {
        let pool = self.pool
        let id = self.id
        if core.isCurrent {
            pool.recycle(id)
        } else {
            // SAFETY: the pool is only touched on its core; hand the recycling over.
            nonisolated(unsafe) let handoff = pool
            core.execute { handoff.recycle(id) }
        }
    }
}

/// A stream's multishot receive into the core's provided-buffer ring: an idle connection holds
/// no buffer; the kernel takes one only when bytes arrive.
func makeMultishotReceiver(core: Core, handle: SocketHandle, pool: ProvidedBufferRing) -> MultishotSource<ReceivedBuffer> {
    MultishotSource(
        core: core, handle: handle, operation: "recv",
        prepare: { entry, fd in entry.prepareMultishotReceive(fd: fd, group: pool.group) },
        interpret: { completion in
            let result = completion.result
            if result > 0 { return .item(ReceivedBuffer(core: core, pool: pool, id: completion.bufferID, count: Int(result))) }
            if result == 0 { return .end }
            if result == -ENOBUFS { return .starved }
            if result == -ECANCELED { return .none }
            return .failure(IOError(operation: "recv", address: handle.address, errno: Errno(rawValue: -result)))
        })
}

/// The chunks a stream receives, as an `AsyncSequence` of ``ReceivedBuffer``s (multishot
/// `IORING_OP_RECV` with provided buffers). Ends at end of stream; throws ``IOError``.
public struct ReceivedChunks: AsyncSequence {
    let receiver: MultishotSource<ReceivedBuffer>

    public func makeAsyncIterator() -> Iterator { Iterator(lease: MultishotLease(receiver)) }

    public struct Iterator: AsyncIteratorProtocol {
        let lease: MultishotLease<ReceivedBuffer>
        public mutating func next() async throws -> ReceivedBuffer? { try await lease.source.next(endOnCancel: false) }
    }
}
