import Glibc
import TorusRing

/// A listener's multishot accept (`IORING_ACCEPT_MULTISHOT`): one SQE keeps accepting, each
/// connection posts a completion with its descriptor. Core-thread only; descriptors that were
/// accepted but never handed out are closed when the acceptor goes away.
final class MultishotAcceptor: @unchecked Sendable {
    // @unchecked: touched only on `core`'s thread; the cancellation handler hops there first.
    let core: Core
    let handle: SocketHandle
    private var accepted = RingBuffer<Int32>()
    private var failure: IOError?
    private var armed: OperationID?
    private var waiter: UnsafeContinuation<Void, Never>?

    init(core: Core, handle: SocketHandle) {
        self.core = core
        self.handle = handle
    }

    deinit {
        while let fd = accepted.popFirst() { close(fd) }
    }

    func next() async throws -> Int32? {
        precondition(core.isCurrent, "a listener's connections are accepted on the core that iterates them")
        while true {
            if let fd = accepted.popFirst() { return fd }
            if let failure {
                self.failure = nil
                throw failure
            }
            if Task.isCancelled {
                stop()
                return nil
            }
            if armed == nil { try arm() }
            await withTaskCancellationHandler {
                await withUnsafeContinuation { (continuation: UnsafeContinuation<Void, Never>) in waiter = continuation }
            } onCancel: { [core] in
                core.execute { self.wake() }
            }
        }
    }

    private func arm() throws {
        let fd = try handle.fd(for: "accept")
        let id = core.submitMultishot(keepAlive: self, handler: { [unowned(unsafe) self] completion in
            self.complete(completion)
        }) { entry in
            entry.prepareAccept(fd: fd, address: nil, length: nil, flags: Int32(SOCK_CLOEXEC.rawValue), multishot: true)
        }
        armed = id
        handle.registerMultishot(core: core, id: id)
    }

    /// Cancels the multishot accept (connections already accepted stay queued until deinit).
    func stop() {
        if let armed { core.cancelOperation(armed) }
    }

    private func complete(_ completion: Completion) {
        if completion.result >= 0 {
            accepted.append(completion.result)
        } else if completion.result != -ECANCELED {
            failure = IOError(operation: "accept", address: handle.address, errno: Errno(rawValue: -completion.result))
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
