import Glibc
import TorusChannels
import TorusRing

/// What one completion of a multishot operation means to its consumer.
enum MultishotEvent<Element> {
    /// An item to hand out.
    case item(Element)
    /// Several, in order (a bundled receive: one per buffer it filled).
    case items([Element])
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
    // `@exclusivity(unchecked)` on the fields the completion path touches: one thread, one
    // access at a time, so the dynamic checks (a runtime call each) buy nothing.
    let core: Core
    let handle: SocketHandle
    private let operation: String
    private let prepare: (SubmissionEntry, Int32) -> Void
    private let interpret: (Completion) -> MultishotEvent<Element>
    private let discard: (Element) -> Void
    @exclusivity(unchecked) private var items = RingBuffer<Element>()
    @exclusivity(unchecked) private var finished: Result<Void, IOError>?
    @exclusivity(unchecked) private var armed: OperationID?
    @exclusivity(unchecked) private var waiter: UnsafeContinuation<Void, Never>?
    @exclusivity(unchecked) private var starved = false
    /// Items queued before the operation is paused (cancelled until the consumer catches up).
    private let maxQueued: Int
    private let spill: (Element) -> Element
    /// A pause (cancellation) was requested and its final completion has not come yet.
    @exclusivity(unchecked) private var pausing = false
    /// Starved, and waiting for the core's provided buffers to come back (see
    /// ``ProvidedBufferPool``).
    @exclusivity(unchecked) private var waitingForBuffers = false
    /// Takes items on the core as they arrive, instead of queueing them for `next()` and
    /// resuming the consumer's task; returns false to refuse one, which is then queued as usual.
    /// Offered an item only while none is queued, so items keep their order.
    @exclusivity(unchecked) var directConsumer: ((Element) -> Bool)?
    /// An item a consumer took and gave back (it could not pass it on): handed out first.
    @exclusivity(unchecked) private var givenBack: Element?

    /// - Parameters:
    ///   - prepare: fills the SQE for the socket's descriptor.
    ///   - interpret: turns a completion into an event.
    ///   - discard: releases an item nobody took (closes an accepted descriptor).
    ///   - maxQueued: how many items may wait for the consumer before the operation is paused
    ///     (cancelled, and armed again by `next()` once the queue is empty). For a receive into
    ///     the core's shared provided buffers this is what keeps a consumer that stopped reading
    ///     from holding them all: its unread bytes stay in the socket (TCP pushes back on the
    ///     peer) instead of in the pool other connections need.
    ///   - spill: applied to items that arrive while `maxQueued` are already waiting (the
    ///     kernel may deliver several before the pause takes effect): moves a received chunk
    ///     out of the shared pool.
    init(
        core: Core, handle: SocketHandle, operation: String,
        prepare: @escaping (SubmissionEntry, Int32) -> Void,
        interpret: @escaping (Completion) -> MultishotEvent<Element>,
        discard: @escaping (Element) -> Void = { _ in },
        maxQueued: Int = .max,
        spill: @escaping (Element) -> Element = { $0 }
    ) {
        self.maxQueued = maxQueued
        self.spill = spill
        self.core = core
        self.handle = handle
        self.operation = operation
        self.prepare = prepare
        self.interpret = interpret
        self.discard = discard
    }

    deinit {
        if let givenBack { discard(givenBack) }
        while let item = items.popFirst() { discard(item) }
    }

    /// The next item; nil at the end of the stream or, for `endOnCancel`, once the task is
    /// cancelled (the multishot operation is cancelled then).
    ///
    /// Inside a ``withDeadline(_:isolation:_:)`` scope whose deadline passes, the wait throws
    /// `CancellationError` (the scope reports a timeout) and the operation stays armed: items
    /// that arrive meanwhile are queued for the next call, none is lost.
    nonisolated(nonsending) func next(endOnCancel: Bool) async throws -> Element? {
        precondition(core.isCurrent, "a multishot \(operation) is consumed on the core that armed it")
        while true {
            if let item = givenBack {
                givenBack = nil
                return item
            }
            if let item = items.popFirst() { return item }
            if let finished {
                if case .failure(let error) = finished {
                    self.finished = nil
                    throw error
                }
                return nil
            }
            if Task.isCancelled {
                waitingForBuffers = false
                if let armed, endOnCancel { core.cancelOperation(armed) }
                if endOnCancel { return nil }
                throw CancellationError()
            }
            let scope = CancelScope.ofCurrentTask
            if let scope, scope.isExpired {
                waitingForBuffers = false
                throw CancellationError()
            }
            if armed == nil && !waitingForBuffers {
                if starved, !core.receiveBuffers.makeRoom() {
                    // Every provided buffer is on loan, at the limit: arm again when one comes back.
                    waitingForBuffers = true
                    core.receiveBuffers.waitForReturn { [weak self] in self?.buffersReturned() ?? false }
                } else {
                    try arm()
                    // An injected fault completed the operation at once: look again.
                    if armed == nil { continue }
                }
                starved = false
            }
            // The deadline wakes the wait as a cancellation does; the loop above then throws.
            var deadlineHook: UInt64?
            // The inheriting forms: no executor switches around the wait (see `Core.submitAndAwait`).
            await _unsafeInheritExecutor_withTaskCancellationHandler {
                await _unsafeInheritExecutor_withUnsafeContinuation { (continuation: UnsafeContinuation<Void, Never>) in
                    // A cancellation that came after the check above runs the handler at once,
                    // on this core, before `waiter` is set: its wake finds nobody. Look again
                    // here, or the task sleeps through its cancellation (a SIGTERM right after
                    // start-up left torus-echo hanging 1 time in 20).
                    if Task.isCancelled {
                        continuation.resume()
                        return
                    }
                    waiter = continuation
                    if let scope {
                        deadlineHook = scope.register { [core] in core.execute { self.wake() } }
                        if deadlineHook == nil { wake() }  // it passed in between
                    }
                }
            } onCancel: { [core] in
                core.execute { self.wake() }
            }
            if let scope, let deadlineHook { scope.unregister(deadlineHook) }
        }
    }

    /// Up to `limit` items that are already queued, without waiting (after ``next(endOnCancel:)``
    /// returned one, for a consumer that handles what has arrived together).
    func takeQueued(upTo limit: Int) -> [Element] {
        precondition(core.isCurrent, "a multishot \(operation) is consumed on the core that armed it")
        var taken: [Element] = []
        if limit > 0, let item = givenBack {
            givenBack = nil
            taken.append(item)
        }
        while taken.count < limit, let item = items.popFirst() { taken.append(item) }
        return taken
    }

    /// A provided buffer came back while this source was waiting for one: false if it no
    /// longer waits (the buffer is offered to the next receive).
    private func buffersReturned() -> Bool {
        guard waitingForBuffers else { return false }
        waitingForBuffers = false
        wake()
        return true
    }

    /// Puts back an item `next()` handed out that the consumer could not use (a forward whose
    /// queue send was cancelled): the next `next()` returns it, before anything queued.
    func giveBack(_ item: Element) {
        precondition(core.isCurrent && givenBack == nil, "a multishot \(operation): one item given back at a time, on its core")
        givenBack = item
    }

    /// Cancels the operation if it is armed (core thread); a later `next` re-arms it.
    func stop() {
        if let armed { core.cancelOperation(armed) }
    }

    private func arm() throws {
        // Borrowed until the operation's final completion (see `complete`): a close meanwhile
        // cancels the operation and waits for that completion before closing the number.
        let fd = try handle.borrowDescriptor(for: operation)
        if case .fail(let error)? = FaultInjection.fault(for: operation, address: handle.address) {
            // As if the kernel had ended the operation at once (its final completion).
            complete(Completion(userData: 0, result: -error.rawValue, flags: 0))
            return
        }
        let prepare = self.prepare
        let id = core.submitCallingBack(
            keepAlive: self,
            handler: { [unowned(unsafe) self] completion in self.complete(completion) },
            { entry in prepare(entry, fd) })
        armed = id
    }

    private func complete(_ completion: Completion) {
        // Whether the consumer has something to look at: not when a direct consumer took
        // everything this completion brought and the operation stays armed.
        var forConsumer = true
        switch interpret(completion) {
        case .item(let item): forConsumer = enqueue(item)
        case .items(let batch):
            forConsumer = false
            for item in batch where enqueue(item) { forConsumer = true }
        case .end: finished = .success(())
        case .failure(let error): finished = .failure(error)
        case .starved: starved = true
        case .none: break
        }
        if !completion.hasMore {
            armed = nil
            pausing = false
            handle.descriptor.giveBack()
            forConsumer = true
        }
        if forConsumer { wake() }
    }

    /// Hands `item` to the direct consumer, or queues it for `next()`; past `maxQueued`,
    /// spilled, and the operation paused. Returns whether it was queued.
    private func enqueue(_ item: Element) -> Bool {
        if items.isEmpty, givenBack == nil, let directConsumer, directConsumer(item) { return false }
        items.append(items.count < maxQueued ? item : spill(item))
        if items.count >= maxQueued, let armed, !pausing {
            pausing = true
            core.cancelOperation(armed)
        }
        return true
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
