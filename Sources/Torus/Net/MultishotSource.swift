import Glibc
import TorusRing

/// What one completion of a multishot operation means to its consumer.
enum MultishotEvent<Element> {
    /// An item to hand out.
    case item(Element)
    /// The stream ended (end of stream).
    case end
    /// The operation failed.
    case failure(IOError)
    /// The kernel had no provided buffer: re-arm after a pause.
    case starved
    /// Nothing for the consumer (the completion of a cancellation).
    case none
}

/// The consumer side of a multishot operation on a socket (multishot receive, multishot
/// accept): completions are queued here as they arrive and handed out one by one by `next()`,
/// which re-arms the operation when the kernel ended it. Core-thread only.
final class MultishotSource<Element>: @unchecked Sendable {
    // @unchecked: every field is touched only on `core`'s thread; the cancellation handler,
    // which may run elsewhere, hops to the core with `execute` before touching anything.
    let core: Core
    let handle: SocketHandle
    private let operation: String
    private let prepare: (SubmissionEntry, Int32) -> Void
    private let interpret: (Completion) -> MultishotEvent<Element>
    private let discard: (Element) -> Void
    private var items = RingBuffer<Element>()
    private var finished: Result<Void, IOError>?
    private var armed: OperationID?
    private var waiter: UnsafeContinuation<Void, Never>?
    private var starved = false

    /// - Parameters:
    ///   - prepare: fills the SQE for the socket's descriptor.
    ///   - interpret: turns a completion into an event.
    ///   - discard: releases an item nobody took (closes an accepted descriptor).
    init(core: Core, handle: SocketHandle, operation: String,
         prepare: @escaping (SubmissionEntry, Int32) -> Void,
         interpret: @escaping (Completion) -> MultishotEvent<Element>,
         discard: @escaping (Element) -> Void = { _ in }) {
        self.core = core
        self.handle = handle
        self.operation = operation
        self.prepare = prepare
        self.interpret = interpret
        self.discard = discard
    }

    deinit {
        while let item = items.popFirst() { discard(item) }
    }

    /// The next item; nil at the end of the stream or, for `endOnCancel`, once the task is
    /// cancelled (the multishot operation is cancelled then).
    func next(endOnCancel: Bool) async throws -> Element? {
        precondition(core.isCurrent, "a multishot \(operation) is consumed on the core that armed it")
        while true {
            if let item = items.popFirst() { return item }
            if let finished {
                if case .failure(let error) = finished {
                    self.finished = nil
                    throw error
                }
                return nil
            }
            if Task.isCancelled {
                if let armed, endOnCancel { core.cancelOperation(armed) }
                if endOnCancel { return nil }
                throw CancellationError()
            }
            // A deadline or token scope ends the wait with CancellationError. The operation is
            // cancelled too, so that an iterator given up on does not go on taking connections
            // or bytes; what it delivered is kept, and a next call re-arms it.
            if isWaitCancelled {
                if let armed { core.cancelOperation(armed) }
                throw CancellationError()
            }
            if armed == nil {
                if starved {
                    // The provided-buffer ring was empty: let buffers come back before re-arming.
                    starved = false
                    try await sleep(for: .milliseconds(1))
                    continue
                }
                try arm()
            }
            // The scope's hook wakes the wait like a cancellation; the loop then sees it.
            let scope = CancelScope.ofCurrentTask
            let hook = scope?.register({ [core] in core.execute { self.wake() } })
            // Fired in between (its hook may have run here already, with no waiter to wake); or
            // arming the scope's timer reaped completions that delivered to this source.
            if scope != nil && (isWaitCancelled || !items.isEmpty || finished != nil || armed == nil || starved) {
                if let scope, let hook { scope.unregister(hook) }
                continue
            }
            await withTaskCancellationHandler {
                await withUnsafeContinuation { (continuation: UnsafeContinuation<Void, Never>) in waiter = continuation }
            } onCancel: { [core] in
                core.execute { self.wake() }
            }
            if let scope, let hook { scope.unregister(hook) }
        }
    }

    /// Cancels the operation if it is armed (core thread); a later `next` re-arms it.
    func stop() {
        if let armed { core.cancelOperation(armed) }
    }

    private func arm() throws {
        let fd = try handle.fd(for: operation)
        let prepare = self.prepare
        let id = core.submitMultishot(keepAlive: self, handler: { [unowned(unsafe) self] completion in
            self.complete(completion)
        }) { entry in prepare(entry, fd) }
        armed = id
        handle.registerMultishot(core: core, id: id)
    }

    private func complete(_ completion: Completion) {
        switch interpret(completion) {
        case .item(let item): items.append(item)
        case .end: finished = .success(())
        case .failure(let error): finished = .failure(error)
        case .starved: starved = true
        case .none: break
        }
        if !completion.hasMore {
            armed = nil
            handle.registerMultishot(core: nil, id: nil)
        }
        wake()
    }

    private func wake() {
        if let waiter {
            self.waiter = nil
            waiter.resume()
        }
    }
}

/// Held by the iterators consuming a ``MultishotSource``: when the last copy is dropped (a
/// `break` out of the loop, an iterator given up on), the multishot operation is cancelled, so
/// it does not go on taking connections or bytes that nobody will read. (The source itself
/// lives on in the operation table until the final completion.)
final class MultishotLease<Element>: @unchecked Sendable {
    // @unchecked: the source is only touched on its core, where `deinit` sends the stop.
    let source: MultishotSource<Element>
    init(_ source: MultishotSource<Element>) { self.source = source }
    deinit {
        let source = self.source
        source.core.execute { source.stop() }
    }
}
