import Glibc
import TorusRing

/// Bytes a multishot receive delivered into one of the core's provided buffers.
///
/// The buffer goes back to the kernel when this object is released, so hold it only as long as
/// you need the bytes (or copy them out). Not `Sendable`: it belongs to the core that received it.
public final class ReceivedBuffer {
    /// Where the bytes are.
    enum Storage {
        /// A provided buffer of the core's pool, returned to it on release.
        case provided(ProvidedBufferRing, id: UInt16)
        /// Memory of its own: bytes moved out of the pool because the consumer was not taking
        /// them (see ``ReceivedChunks``), freed on release.
        case owned
    }

    let core: Core
    let storage: Storage
    /// The first byte (in the pool, or the owned allocation).
    let address: UnsafeRawPointer
    /// The number of bytes received.
    public let count: Int

    /// Takes buffer `id` of `group` on loan (it goes back to the core's pool on release).
    init(core: Core, group: ProvidedBufferRing, id: UInt16, count: Int) {
        core.receiveBuffers.lend(group)
        self.core = core
        storage = .provided(group, id: id)
        address = UnsafeRawPointer(group.address(of: id))
        self.count = count
    }

    private init(core: Core, copying bytes: UnsafeRawPointer, count: Int) {
        self.core = core
        storage = .owned
        let copy = UnsafeMutableRawPointer.allocate(byteCount: max(count, 1), alignment: 16)
        copy.copyMemory(from: bytes, byteCount: count)
        address = UnsafeRawPointer(copy)
        self.count = count
    }

    /// The same bytes in memory of their own: once this object is released its provided buffer
    /// goes back to the pool for other connections.
    func movedOutOfPool() -> ReceivedBuffer {
        if case .owned = storage { return self }
        return ReceivedBuffer(core: core, copying: address, count: count)
    }

    /// The received bytes (do not let the pointer escape).
    public func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try body(UnsafeRawBufferPointer(start: address, count: count))
    }

    /// A copy of the received bytes.
    public var bytes: [UInt8] { withUnsafeBytes { Array($0) } }

    deinit {
        guard case .provided(let group, let id) = storage else {
            UnsafeMutableRawPointer(mutating: address).deallocate()
            return
        }
        let core = self.core
        if core.isCurrent {
            core.receiveBuffers.giveBack(group, id: id)
        } else {
            // SAFETY: the pool is only touched on its core; hand the recycling over.
            nonisolated(unsafe) let handoff = group
            core.execute { core.receiveBuffers.giveBack(handoff, id: id) }
        }
    }
}

/// A stream's multishot receive into the core's provided buffers: an idle connection holds
/// no buffer; the kernel takes one only when bytes arrive, and a connection whose consumer
/// stopped reading holds at most ``receiveQueueLimit(pool:)`` of them.
func makeMultishotReceiver(core: Core, handle: SocketHandle, pool: ProvidedBufferPool) -> MultishotSource<ReceivedBuffer> {
    // A completion names a buffer id, not its group: each arming records the group it names
    // (one operation is armed at a time, and its completions all come before the next arming).
    let armed = ArmedGroup(pool.groupForArming()!)
    return MultishotSource(
        core: core, handle: handle, operation: "recv",
        prepare: { entry, fd in
            if let group = pool.groupForArming() { armed.group = group }
            entry.prepareMultishotReceive(fd: fd, group: armed.group.group, bundle: pool.receivesInBundles)
        },
        interpret: { completion in
            let result = completion.result
            if result > 0 {
                return receivedChunks(
                    core: core, pool: pool, group: armed.group, first: completion.bufferID, count: Int(result), address: handle.address)
            }
            // 0 while the stream is closing is the close's shutdown(2), not the peer's end.
            if result == 0 && handle.descriptor.isClosing { return .failure(IOError(operation: "recv", address: handle.address, errno: .canceled)) }
            if result == 0 { return .end }
            if result == -ENOBUFS { return .starved }
            if result == -ECANCELED { return .none }
            return .failure(IOError(operation: "recv", address: handle.address, errno: Errno(rawValue: -result)))
        },
        maxQueued: receiveQueueLimit(pool: pool),
        spill: { $0.movedOutOfPool() })
}

/// The chunks one receive completion delivered: one buffer, or with a bundle the named buffer
/// and the ones after it in the group's ring, all full but the last (the kernel fills them in
/// ring order), each handed out as a chunk of its own. `address` names the peer in an error.
private func receivedChunks(
    core: Core, pool: ProvidedBufferPool, group: ProvidedBufferRing, first: UInt16, count: Int, address: SocketAddress?
) -> MultishotEvent<ReceivedBuffer> {
    let size = group.size
    guard count > size else { return .item(ReceivedBuffer(core: core, group: group, id: first, count: count)) }
    // The bundle's slots were refilled before its completion came (a kernel that posts
    // completions out of order; see Ring.supportsReceiveBundles): which buffers hold the bytes
    // is unknown. Fail the receive rather than hand out other buffers' bytes.
    guard group.isInItsSlot(first) else {
        return .failure(IOError(operation: "recv (a bundle completed after its buffers were reused)", address: address, errno: .ioError))
    }
    pool.countBundle()
    var chunks: [ReceivedBuffer] = []
    chunks.reserveCapacity((count + size - 1) / size)
    var remaining = count
    var step = 0
    while remaining > 0 {
        chunks.append(ReceivedBuffer(core: core, group: group, id: group.bufferID(after: first, by: step), count: min(size, remaining)))
        remaining -= size
        step += 1
    }
    return .items(chunks)
}

/// The bytes a ``ReceivedChunks/Iterator/forward(to:)`` has handed to its queue, counted by the
/// completion handler and the task alike (both on the core).
private final class ByteCount {
    var value = 0
}

/// The buffer group a stream's receive is armed on, read by its completions: buffer ids are
/// per group.
// SAFETY: holding the group keeps its registration and memory alive while the armed receive
// may still pick one of its buffers (the source holding this lives until the final completion).
final class ArmedGroup {
    // Unchecked: read by every completion of the receive, on the core's thread only.
    @exclusivity(unchecked) var group: ProvidedBufferRing
    init(_ group: ProvidedBufferRing) { self.group = group }
}

/// How many received chunks one connection may have waiting for its consumer in provided
/// buffers before its receive is paused: 1/64 of the core's first buffer group, at least 2 (16
/// of the default 1,024; the kernel may deliver many more in one go, up to 256 buffers in one
/// bundled completion, and the rest are moved out of the pool). A consumer that keeps up rarely
/// gets near it; one that stopped (its peer does not read the replies, say) cannot starve the
/// other connections on the core: 64 of them would be needed to empty the first group, 256 to
/// hold the default limit.
func receiveQueueLimit(pool: ProvidedBufferPool) -> Int { max(2, pool.initialCount / 64) }

/// The chunks a stream receives, as an `AsyncSequence` of ``ReceivedBuffer``s (multishot
/// `IORING_OP_RECV` with provided buffers). Ends at end of stream; throws ``IOError``.
///
/// Fair to the other connections of the core: while its consumer is not taking chunks, at most
/// a few (1/64 of ``RuntimeConfiguration/receiveBufferCount``) wait in provided buffers; then
/// the receive is paused and armed again when the consumer asks for more, so unread bytes wait
/// in the socket, not in the shared pool. What the kernel delivered before the pause took
/// effect (it may fill many buffers in one go) is moved into memory of the connection's own and
/// its buffers given back. When the pool is empty anyway (`ENOBUFS`: many busy connections
/// hold every buffer), the core adds buffers, up to ``RuntimeConfiguration/receiveBufferLimit``;
/// at the limit the receive is armed again as soon as a buffer comes back (waiting receives
/// take turns), not on a timer.
///
/// **Cancel safety.** The kernel receives ahead of `next()`, into the core's buffers, and the
/// chunks wait here in order. A `next()` stopped by cancellation or a
/// ``withTimeout(_:isolation:_:)`` deadline throws `CancellationError` and takes nothing (a
/// chunk already waiting is returned rather than dropped); the receive stays armed, and chunks
/// that arrive later come out of the next call, in order. Chunks nobody took go back to the
/// pool once the sequence is dropped and the stream closed.
public struct ReceivedChunks: AsyncSequence {
    let receiver: MultishotSource<ReceivedBuffer>

    /// Returns an iterator over the chunks; the first `next()` arms the multishot receive.
    public func makeAsyncIterator() -> Iterator { Iterator(lease: MultishotLease(receiver)) }

    /// Hands out the chunks the kernel received; dropping it cancels the multishot receive.
    public struct Iterator: AsyncIteratorProtocol {
        let lease: MultishotLease<ReceivedBuffer>
        /// The next chunk, waiting for one; nil at end of stream.
        ///
        /// Cancel safety: cancel safe: a call stopped by cancellation or a deadline takes no
        /// chunk (one already waiting is returned, not dropped). Dropping the iterator (a
        /// `break` out of the loop) cancels the multishot receive.
        public mutating func next() async throws -> ReceivedBuffer? { try await lease.source.next(endOnCancel: false) }

        /// The next chunk and the chunks already waiting behind it, at most `maxCount` in all,
        /// waiting for the first; empty at end of stream. For a consumer that handles what has
        /// arrived together: one gathered write for all of them
        /// (``TCPStream/writeAll(_:)-([ReceivedBuffer])``) costs one system call and one
        /// completion where a write per chunk costs one each.
        ///
        /// Cancel safety: as ``next()``: a call stopped by cancellation or a deadline takes no
        /// chunk; chunks already waiting are returned, not dropped.
        public mutating func nextBatch(maxCount: Int = 64) async throws -> [ReceivedBuffer] {
            precondition(maxCount > 0, "nextBatch(maxCount: \(maxCount))")
            guard let first = try await lease.source.next(endOnCancel: false) else { return [] }
            return [first] + lease.source.takeQueued(upTo: maxCount - 1)
        }

        /// Sends every chunk still to come to `queue` until the end of the stream, then waits
        /// for the queue to drain (`flush`); returns the bytes forwarded. A proxy's or an echo
        /// server's loop without a task resumption per chunk: the receive's completion hands
        /// each chunk to the queue on the core, and the task wakes only when the queue is full
        /// (it then waits for room, and the receive pauses once a few chunks wait: the peer is
        /// slowed down, not buffered), at the end of the stream, or on an error.
        ///
        /// The queue must belong to this core; it may be the same stream's (an echo).
        ///
        /// Cancel safety: a cancellation or a deadline stops the forwarding with
        /// `CancellationError`. Chunks the queue accepted go out (see ``SendQueue``); chunks
        /// received and not yet forwarded stay here for the next call (`next()` or another
        /// `forward`); none is lost or sent twice. How many bytes went before the cancellation
        /// is not reported.
        /// - Throws: the receive's error, the queue's (a failed send), `CancellationError`;
        ///   ``RuntimeError/wrongCore(operation:owner:)`` for a queue of another core.
        public mutating func forward(to queue: SendQueue) async throws -> Int {
            let source = lease.source
            let engine = queue.engine
            guard engine.core === source.core else { throw RuntimeError.wrongCore(operation: "forward(to:)", owner: engine.core.index) }
            let forwarded = ByteCount()
            let direct: (ReceivedBuffer) -> Bool = { chunk in
                guard engine.trySend(chunk) else { return false }
                forwarded.value += chunk.count
                return true
            }
            defer { source.directConsumer = nil }
            while true {
                source.directConsumer = direct
                guard let chunk = try await source.next(endOnCancel: false) else { break }
                // This task holds a chunk now: until it is queued, the core must not queue the
                // ones after it.
                source.directConsumer = nil
                do {
                    try await queue.send(chunk)
                } catch {
                    // Cancelled while waiting for room (or the queue failed): the chunk was not
                    // accepted, so it goes back to the front for the next call.
                    source.giveBack(chunk)
                    throw error
                }
                forwarded.value += chunk.count
            }
            try await queue.flush()
            return forwarded.value
        }
    }
}
