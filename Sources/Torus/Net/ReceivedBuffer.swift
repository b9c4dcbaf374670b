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

/// One stream's multishot receive: completions are queued here (core-thread only) and handed
/// out by ``ReceivedChunks``. An idle connection holds no buffer: the kernel takes one from the
/// core's provided-buffer ring only when bytes arrive.
final class MultishotReceiver: @unchecked Sendable {
    // @unchecked: every field is touched only on `core`'s thread; the cancellation handler,
    // which may run elsewhere, hops to the core with `execute` before touching anything.
    let core: Core
    let handle: SocketHandle
    private var chunks = RingBuffer<(id: UInt16, count: Int)>()
    private var finished: Result<Void, IOError>?
    private var armed: OperationID?
    private var waiter: UnsafeContinuation<Void, Never>?
    private var starved = false

    init(core: Core, handle: SocketHandle) {
        self.core = core
        self.handle = handle
    }

    func next() async throws -> ReceivedBuffer? {
        precondition(core.isCurrent, "a stream's received chunks are read on the core that armed them")
        let pool = try core.providedBufferRing()
        while true {
            if let chunk = chunks.popFirst() { return ReceivedBuffer(core: core, pool: pool, id: chunk.id, count: chunk.count) }
            if let finished {
                if case .failure(let error) = finished { throw error }
                return nil
            }
            try Task.checkCancellation()
            if armed == nil {
                if starved {
                    // The pool was empty: give buffers a moment to come back before re-arming.
                    starved = false
                    try await sleep(for: .milliseconds(1))
                    continue
                }
                try arm(pool)
            }
            await withTaskCancellationHandler {
                await withUnsafeContinuation { (continuation: UnsafeContinuation<Void, Never>) in waiter = continuation }
            } onCancel: { [core] in
                core.execute { self.wake() }
            }
        }
    }

    private func arm(_ pool: ProvidedBufferRing) throws {
        let fd = try handle.fd(for: "recv")
        let id = core.submitMultishot(keepAlive: self, handler: { [unowned(unsafe) self] completion in
            self.complete(completion)
        }) { entry in
            entry.prepareMultishotReceive(fd: fd, group: pool.group)
        }
        armed = id
        handle.registerMultishot(core: core, id: id)
    }

    private func complete(_ completion: Completion) {
        let result = completion.result
        if result > 0 {
            chunks.append((completion.bufferID, Int(result)))
        } else if result == 0 {
            finished = .success(())
        } else if result == -ENOBUFS {
            starved = true
        } else if result != -ECANCELED {
            finished = .failure(IOError(operation: "recv", address: handle.address, errno: Errno(rawValue: -result)))
        }
        if !completion.hasMore {
            armed = nil
            handle.registerMultishot(core: nil, id: nil)
        }
        wake()
    }

    func wake() {
        if let waiter {
            self.waiter = nil
            waiter.resume()
        }
    }
}

/// The chunks a stream receives, as an `AsyncSequence` of ``ReceivedBuffer``s (multishot
/// `IORING_OP_RECV` with provided buffers). Ends at end of stream; throws ``IOError``.
public struct ReceivedChunks: AsyncSequence {
    let receiver: MultishotReceiver

    public func makeAsyncIterator() -> Iterator { Iterator(receiver: receiver) }

    public struct Iterator: AsyncIteratorProtocol {
        let receiver: MultishotReceiver
        public mutating func next() async throws -> ReceivedBuffer? { try await receiver.next() }
    }
}
