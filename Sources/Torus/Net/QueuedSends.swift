import Glibc
import SystemPackage
import TorusChannels
import TorusRing

/// The engine of a ``SendQueue``: the bytes accepted, the one send in flight, and the task
/// waiting for room or for the queue to drain. Core-thread only.
///
/// One send is in flight at a time, so bytes leave in the order they were accepted (two sends
/// in flight on one stream socket may be reordered by the kernel when the first one has to wait
/// for room). A completion is handled here, on the core, without a task: a short send is sent
/// on from where it stopped, what was queued meanwhile goes in the next send (one `sendmsg`
/// for up to ``maximumVectors`` pieces), and a task waits only for room (past the limit) or in
/// ``SendQueue/flush()``. Each send borrows the socket's descriptor until its completion, like
/// every ring operation, so a close cancels it and waits for it.
final class QueuedSends: @unchecked Sendable {
    // @unchecked: every field is touched only on `core`'s thread; a cancellation handler or a
    // deadline, which may run elsewhere, hops to the core with `execute` first.

    /// The most pieces one `sendmsg` covers; the rest go in the next one.
    static let maximumVectors = 64

    let core: Core
    // The socket's descriptor and address, not its `SocketHandle`: the handle holds this
    // object (its one queue), and a reference back would keep both alive for ever.
    let descriptor: SharedDescriptor
    let address: SocketAddress?
    /// Queued bytes at or past which a send waits for room (until half of it has drained).
    @exclusivity(unchecked) var limit: Int
    @exclusivity(unchecked) private var bytes = OutgoingBytes()
    /// Whether a send is in the ring, and its name for errors ("send" or "sendmsg").
    @exclusivity(unchecked) private var sending = false
    @exclusivity(unchecked) private var sendingOperation = "send"
    /// Why the queue stopped: every later send and flush throws it.
    @exclusivity(unchecked) private(set) var failure: (any Error)?
    /// The tasks waiting for room or for the queue to drain, each with how few queued bytes
    /// wake it. Usually none or one; several tasks may share a stream's queue.
    @exclusivity(unchecked) private var waiters: [Waiter] = []
    @exclusivity(unchecked) private var nextWaiterID: UInt64 = 0

    private struct Waiter {
        let id: UInt64
        let threshold: Int
        let continuation: UnsafeContinuation<Void, Never>
    }
    /// Cancellations by someone else (see `ringIO`) and empty sends in a row.
    @exclusivity(unchecked) private var retries = 0
    /// The completion handler, made once: a closure per send would be an allocation per send.
    @exclusivity(unchecked) private var onCompletion: ((Completion) -> Void)?
    // SAFETY: one msghdr and its iovecs, reused by every `sendmsg`: one send is in flight at a
    // time, and the operation table keeps this object (which frees them in deinit) alive until
    // that send's final completion. The iovecs point into pieces of `bytes`, whose owners stay
    // queued until the completion says the kernel has taken their bytes.
    private let header: UnsafeMutablePointer<msghdr>
    private let vectors: UnsafeMutablePointer<iovec>

    init(core: Core, descriptor: SharedDescriptor, address: SocketAddress?, limit: Int) {
        self.core = core
        self.descriptor = descriptor
        self.address = address
        self.limit = limit
        header = .allocate(capacity: 1)
        header.initialize(to: msghdr())
        vectors = .allocate(capacity: QueuedSends.maximumVectors)
        header.pointee.msg_iov = vectors
        // SAFETY: the handler runs only for a send in flight, whose keep-alive is this object.
        onCompletion = { [unowned(unsafe) self] completion in self.completed(completion) }
    }

    deinit {
        header.deallocate()
        vectors.deallocate()
    }

    /// Bytes accepted and not yet taken by the kernel.
    var queuedByteCount: Int { bytes.byteCount }

    /// Accepts bytes with `append`, after waiting for room when the queue is at its limit.
    nonisolated(nonsending) func admit(_ append: (inout OutgoingBytes) -> Void) async throws {
        precondition(core.isCurrent, "a send queue is used on the core that made it")
        if let failure { throw failure }
        if bytes.byteCount >= limit {
            try await wait(untilAtMost: limit / 2)
            if let failure { throw failure }
        }
        append(&bytes)
        if !sending { submit() }
    }

    /// Accepts a received chunk without waiting, on the core (a forwarding receive's completion
    /// handler): false, accepting nothing, when the queue is at its limit or has failed.
    func trySend(_ chunk: ReceivedBuffer) -> Bool {
        guard failure == nil, bytes.byteCount < limit else { return false }
        bytes.append(chunk)
        if !sending { submit() }
        return true
    }

    /// Waits until every accepted byte has been taken by the kernel.
    nonisolated(nonsending) func flush() async throws {
        precondition(core.isCurrent, "a send queue is used on the core that made it")
        try await wait(untilAtMost: 0)
        if let failure { throw failure }
    }

    // MARK: Sending

    /// Sends the queued bytes if nothing is in flight (and nothing failed).
    private func submit() {
        while !sending, failure == nil, !bytes.isEmpty {
            if core.stopping { return fail(RuntimeError.shuttingDown) }
            let single = bytes.pieceCount == 1
            let operation = single ? "send" : "sendmsg"
            guard let fd = descriptor.borrow() else {
                return fail(IOError(operation: operation, address: address, errno: .badFileDescriptor))
            }
            var maximumLength = maximumTransfer
            switch FaultInjection.fault(for: operation, address: address) {
            case .fail(let error)?:
                // As if the kernel had answered at once: nothing was submitted.
                descriptor.giveBack()
                record(-error.rawValue, operation: operation)
                continue
            case .short(let length)?:
                maximumLength = max(0, min(length, maximumLength))
            case nil:
                break
            }
            sending = true
            sendingOperation = operation
            if single {
                let (start, count) = bytes.first
                let length = min(count, maximumLength)
                _ = core.submitCallingBack(keepAlive: self, handler: onCompletion!) { entry in
                    entry.prepareSend(fd: fd, buffer: start, length: length, flags: Int32(MSG_NOSIGNAL))
                }
            } else {
                header.pointee.msg_iovlen = bytes.fill(vectors, maximumVectors: QueuedSends.maximumVectors, maximumLength: maximumLength)
                let header = self.header
                _ = core.submitCallingBack(keepAlive: self, handler: onCompletion!) { entry in
                    entry.prepareSendMessage(fd: fd, message: header, flags: UInt32(MSG_NOSIGNAL))
                }
            }
        }
    }

    /// A send's completion: account for it, send what is left, wake the waiting task if due.
    private func completed(_ completion: Completion) {
        sending = false
        descriptor.giveBack()
        record(completion.result, operation: sendingOperation)
        submit()
        if !waiters.isEmpty { wakeDue() }
    }

    /// Wakes the waiters whose wait is over: few enough bytes queued, or the queue failed.
    private func wakeDue() {
        var index = 0
        while index < waiters.count {
            if failure != nil || bytes.byteCount <= waiters[index].threshold {
                waiters.remove(at: index).continuation.resume()
            } else {
                index += 1
            }
        }
    }

    /// Applies one send's result: bytes taken, a retry, or the failure that ends the queue.
    private func record(_ result: Int32, operation: String) {
        if result > 0 {
            retries = 0
            bytes.consume(Int(result))
            return
        }
        let errno = -result
        switch errno {
        case EINTR, EAGAIN, kernelRestartErrorCodes:
            // Interrupted in an io-wq worker: sent again, unless a close is what interrupted it
            // (sent again, it would come after the close's cancel and wait for ever).
            if descriptor.isClosing { fail(IOError(operation: operation, address: address, errno: .canceled)) }
        case 0, ECANCELED:
            // Nothing taken (a zero-length fault), or cancelled by the close of another
            // descriptor on the same socket (see `ringIO`): sent again, a bounded number of times.
            retries += 1
            if descriptor.isClosing || core.stopping || retries > maximumForeignCancels {
                fail(IOError(operation: operation, address: address, errno: Errno(rawValue: errno == 0 ? EIO : errno)))
            }
        default:
            fail(IOError(operation: operation, address: address, errno: Errno(rawValue: errno)))
        }
    }

    /// Ends the queue: the bytes not sent are dropped (a received chunk goes back to its pool),
    /// and `error` is what every later call throws. The socket is shut down both ways, as a
    /// failed write ends a connection in SwiftNIO: a task reading the stream sees its end
    /// instead of waiting for a request whose reply could never be sent.
    private func fail(_ error: any Error) {
        guard failure == nil else { return }
        failure = error
        bytes.removeAll()
        if let fd = descriptor.borrow() {
            _ = Glibc.shutdown(fd, Int32(SHUT_RDWR))
            descriptor.giveBack()
        }
    }

    // MARK: Waiting

    /// Suspends until at most `threshold` bytes are queued or the queue failed.
    /// - Throws: `CancellationError` when the task is cancelled or its deadline passes first.
    private nonisolated(nonsending) func wait(untilAtMost threshold: Int) async throws {
        while bytes.byteCount > threshold && failure == nil {
            if Task.isCancelled { throw CancellationError() }
            let scope = CancelScope.ofCurrentTask
            if let scope, scope.isExpired { throw CancellationError() }
            // The deadline wakes the wait as a cancellation does; the loop then throws.
            var deadlineHook: UInt64?
            nonisolated(unsafe) var waiterID: UInt64?
            // The inheriting forms: no executor switches around the wait (see `Core.submitAndAwait`).
            await _unsafeInheritExecutor_withTaskCancellationHandler {
                await _unsafeInheritExecutor_withUnsafeContinuation { (continuation: UnsafeContinuation<Void, Never>) in
                    // A cancellation after the check above ran its handler already: its wake
                    // found nobody, so look again before sleeping.
                    if Task.isCancelled {
                        continuation.resume()
                        return
                    }
                    let id = nextWaiterID
                    nextWaiterID &+= 1
                    waiterID = id
                    waiters.append(Waiter(id: id, threshold: threshold, continuation: continuation))
                    if let scope {
                        deadlineHook = scope.register { [core] in core.execute { self.wake(id) } }
                        if deadlineHook == nil { wake(id) }  // it passed in between
                    }
                }
            } onCancel: { [core] in
                core.execute { if let waiterID { self.wake(waiterID) } }
            }
            if let scope, let deadlineHook { scope.unregister(deadlineHook) }
        }
    }

    /// Wakes waiter `id` if it still waits (its task was cancelled or its deadline passed).
    private func wake(_ id: UInt64) {
        if let index = waiters.firstIndex(where: { $0.id == id }) { waiters.remove(at: index).continuation.resume() }
    }
}
