import Synchronization

/// Sends a stream's bytes in order without making the task wait for each send: a write-behind
/// queue (SwiftNIO's `write` and `flush`, without a promise per write).
///
/// ``send(_:)-(ReceivedBuffer)`` accepts bytes and returns at once while the queue holds less
/// than its ``limit``; the core sends them on its own, one send in flight at a time so that
/// order is kept, and sends what was queued meanwhile together (one `sendmsg`). A server
/// that answers each request with an awaited write pays two task resumptions per request (the
/// read's and the write's); with a send queue it pays one. Past the limit, `send` waits until
/// half of it has drained: a peer that does not read slows its sender down instead of growing
/// its memory.
///
/// Get a stream's queue with ``TCPStream/sendQueue(limit:)`` on the core that will use it; a
/// stream has one (every call returns it), and it belongs to that core. Several tasks on that
/// core may send through it: each call's bytes stay together, in the order the calls were
/// accepted. Do not write to the stream directly while bytes are queued: the two would
/// interleave.
///
/// Errors: a send that fails (the peer reset the connection, `EPIPE` after its close) ends
/// the queue: the bytes still queued are dropped, the socket is shut down both ways (a task
/// reading the stream sees its end, as after a failed write in SwiftNIO), and that error, an
/// ``IOError`` naming the operation and the peer's address, is thrown by every later `send`
/// and `flush`. So a failure is reported, at the latest, by the ``flush()`` before the close.
///
/// A stream dropped without ``TCPStream/close()`` keeps its descriptor while bytes are queued,
/// until they are sent or the send fails: close a stream whose peer may never read.
///
/// **Cancel safety.** Accepted bytes are sent whatever happens to the task that queued them, as
/// long as the stream is open: the queue lives on in its send until the last byte has left. A
/// `send` that finds room never suspends and accepts its bytes, even in a cancelled task; one
/// that waits for room accepts nothing if it is cancelled or its deadline passes. A cancelled
/// `flush` stops waiting, and the bytes still go out. Closing the stream ends the send in
/// flight and drops what is queued, so call ``flush()`` before closing.
public final class SendQueue {
    /// The default ``limit``: SwiftNIO's default high-water mark for a channel's writes.
    public static let defaultLimit = 64 << 10

    let engine: QueuedSends

    init(engine: QueuedSends) { self.engine = engine }

    /// The queued bytes at or past which ``send(_:)-(ReceivedBuffer)`` waits for room (until half
    /// of it has drained).
    public var limit: Int { engine.limit }

    /// Bytes accepted that the kernel has not taken yet.
    public var queuedByteCount: Int { engine.queuedByteCount }

    /// Queues a received chunk without copying it. The chunk's provided buffer stays out of
    /// the core's pool until it has been sent; a queue holds at most a few (the share of the pool
    /// one connection's ``ReceivedChunks`` may hold), and copies the chunks past them, so that a
    /// peer that sends small messages and does not read cannot empty the core's pool.
    ///
    /// Cancel safety: returns at once, the bytes accepted, while the queue is under its limit
    /// (a cancelled task included); waiting for room, a cancellation or a deadline throws
    /// `CancellationError` with nothing of this call accepted.
    public nonisolated(nonsending) func send(_ chunk: ReceivedBuffer) async throws {
        try await engine.admit { $0.append(chunk) }
    }

    /// Queues received chunks, in order, without copying them (one `sendmsg` sends them).
    ///
    /// Cancel safety: returns at once, the bytes accepted, while the queue is under its limit
    /// (a cancelled task included); waiting for room, a cancellation or a deadline throws
    /// `CancellationError` with nothing of this call accepted.
    public nonisolated(nonsending) func send(_ chunks: [ReceivedBuffer]) async throws {
        try await engine.admit { bytes in for chunk in chunks { bytes.append(chunk) } }
    }

    /// Queues a copy of `bytes`. Small sends share the queue's buffers and leave together.
    ///
    /// Cancel safety: returns at once, the bytes accepted, while the queue is under its limit
    /// (a cancelled task included); waiting for room, a cancellation or a deadline throws
    /// `CancellationError` with nothing of this call accepted.
    public nonisolated(nonsending) func send(_ bytes: [UInt8]) async throws {
        try await engine.admit { queued in bytes.withUnsafeBytes { queued.append(copying: $0) } }
    }

    /// Queues a copy of `bytes`.
    ///
    /// Cancel safety: returns at once, the bytes accepted, while the queue is under its limit
    /// (a cancelled task included); waiting for room, a cancellation or a deadline throws
    /// `CancellationError` with nothing of this call accepted.
    public nonisolated(nonsending) func send(_ bytes: ArraySlice<UInt8>) async throws {
        try await engine.admit { queued in bytes.withUnsafeBytes { queued.append(copying: $0) } }
    }

    /// Queues a copy of the buffer's bytes (`0..<count`); the buffer can be reused at once.
    ///
    /// Cancel safety: returns at once, the bytes accepted, while the queue is under its limit
    /// (a cancelled task included); waiting for room, a cancellation or a deadline throws
    /// `CancellationError` with nothing of this call accepted.
    public nonisolated(nonsending) func send(_ buffer: IOBuffer) async throws {
        try await engine.admit { $0.append(copying: UnsafeRawBufferPointer(start: buffer.storage, count: buffer.count)) }
    }

    /// Waits until the kernel has taken every queued byte (they are in the socket's send
    /// buffer: sent, or about to be).
    ///
    /// Cancel safety: a cancellation or a deadline stops the wait (`CancellationError`); the
    /// queued bytes still go out.
    ///
    /// - Throws: the error that ended the queue, if a send failed; `CancellationError` when
    ///   cancelled or past the scope's deadline (the bytes still go out).
    public nonisolated(nonsending) func flush() async throws {
        try await engine.flush()
    }
}

extension SocketHandle {
    /// The stream's one send queue, made on the calling core on first use; a later call
    /// returns it, with `limit` as its new limit if one is given.
    func makeSendQueue(limit: Int?) throws -> SendQueue {
        if let limit { precondition(limit > 0, "a send queue's limit must be positive, not \(limit)") }
        guard let core = Core.current else { throw RuntimeError.notOnRuntimeThread(operation: "sendQueue") }
        let engine = try sendQueue.withLock { engine throws(RuntimeError) -> QueuedSends in
            if let engine {
                guard engine.core === core else { throw .wrongCore(operation: "sendQueue", owner: engine.core.index) }
                if let limit { engine.limit = limit }
                return engine
            }
            let made = QueuedSends(core: core, descriptor: descriptor, address: address, limit: limit ?? SendQueue.defaultLimit)
            engine = made
            return made
        }
        return SendQueue(engine: engine)
    }
}

extension TCPStream {
    /// The queue that sends this stream's bytes without the task waiting for each send (see
    /// ``SendQueue``). The first call makes it on the calling core, which it then belongs to;
    /// later calls return the same queue.
    /// - Parameter limit: queued bytes at or past which a send waits for room; nil keeps the
    ///   queue's limit (``SendQueue/defaultLimit`` for a new queue).
    /// - Throws: ``RuntimeError/notOnRuntimeThread(operation:)`` off a Torus core;
    ///   ``RuntimeError/wrongCore(operation:owner:)`` on another core than the queue's.
    public func sendQueue(limit: Int? = nil) throws -> SendQueue {
        try handle.makeSendQueue(limit: limit)
    }
}

extension UnixStream {
    /// The queue that sends this stream's bytes without the task waiting for each send (see
    /// ``SendQueue`` and ``TCPStream/sendQueue(limit:)``).
    public func sendQueue(limit: Int? = nil) throws -> SendQueue {
        try handle.makeSendQueue(limit: limit)
    }
}

extension WriteHalf {
    /// The stream's queue that sends bytes without the task waiting for each send (see
    /// ``SendQueue`` and ``TCPStream/sendQueue(limit:)``): the same queue as the stream's.
    public func sendQueue(limit: Int? = nil) throws -> SendQueue {
        try handle.makeSendQueue(limit: limit)
    }
}
