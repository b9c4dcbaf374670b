import Glibc
import Synchronization
import TorusChannels

/// A descriptor held by the operations that use it (tokio-uring's and monoio's `SharedFd`).
///
/// Why: an operation names its descriptor by number in an SQE, and the kernel looks the number
/// up only when the core's loop next calls `io_uring_enter`. If another task closed the number
/// in between and an open reused it, the queued operation would read or write the wrong file.
/// So every use borrows the descriptor, a ring operation for its whole life (from preparing its
/// SQE to its final completion, a multishot one until its last), and closing only marks the
/// descriptor closing: new borrows fail, the operations in flight are cancelled, and the real
/// `close(2)` runs when the last borrow has been given back. A number is therefore never closed
/// while anything of Torus may still hand it to the kernel.
///
/// `File` and the socket types keep their descriptor in one of these. (A ``PipePair``'s ends are
/// plain numbers: every splice keeps the pair alive until its final completion.)
final class SharedDescriptor: Sendable {
    /// The descriptor number: valid until the real close, which waits for every borrow.
    let rawValue: Int32
    /// Bit 63: closing (no new borrows). Bits 0-62: borrows outstanding.
    private let state = Atomic<UInt64>(0)
    /// Who finishes the close once the last borrow is given back, when borrows were out at the
    /// moment it was asked for.
    private let closer = Lock<Closer>(.nobody)

    private static let closingBit: UInt64 = 1 << 63

    /// Operations holding this descriptor that the kernel files under another one, so that the
    /// close's `IORING_ASYNC_CANCEL_FD` does not find them: a splice from this file into a pipe
    /// (the SQE's `fd` is the splice's output, the pipe). The close cancels these by id;
    /// `closing` is set, under the lock, when it has taken the list.
    private let cancelledByID = Lock<(closing: Bool, operations: [(core: Core, id: OperationID)])>((false, []))

    private enum Closer {
        /// Nobody has asked yet (or the close found no borrow out and did it itself).
        case nobody
        /// An async `close` waits to do the real close itself (it reports the errors).
        case waiting(UnsafeContinuation<Void, Never>)
        /// A synchronous close asked while borrows were out: the last one closes.
        case lastBorrowCloses
        /// The last borrow came back before the closer got to register.
        case drained
        /// Done.
        case closed
    }

    /// The runtime whose core made this object, if any. A close from outside every runtime
    /// (a plain task, a thread) asks its cores to cancel what is in flight; without it such a
    /// close waited until the operations ended by themselves (a FIFO read: until a writer came).
    /// Weak: a file that outlives its runtime does not keep it.
    private weak let openedOn: RuntimeShared?

    init(_ rawValue: Int32) {
        self.rawValue = rawValue
        self.openedOn = Core.current?.shared
    }

    deinit {
        // Every borrower keeps its owner (and so this object) alive, so no borrow is out here.
        if !isClosing { closeOwnedDescriptor(rawValue) }
    }

    /// The number, or -1 once closing started.
    var currentValue: Int32 {
        state.load(ordering: .acquiring) & SharedDescriptor.closingBit == 0 ? rawValue : -1
    }

    var isClosing: Bool { state.load(ordering: .acquiring) & SharedDescriptor.closingBit != 0 }

    /// Borrows the descriptor: nil once closing started. Every successful borrow must be given
    /// back with ``giveBack()`` exactly once, after the last moment the number can reach the
    /// kernel.
    @inline(__always)
    func borrow() -> Int32? {
        var current = state.load(ordering: .relaxed)
        while true {
            if current & SharedDescriptor.closingBit != 0 { return nil }
            let (exchanged, original) = state.weakCompareExchange(
                expected: current, desired: current + 1, successOrdering: .acquiring, failureOrdering: .relaxed)
            if exchanged { return rawValue }
            current = original
        }
    }

    /// Ends a borrow; the last one after a close was asked finishes the close.
    @inline(__always)
    func giveBack() {
        let old = state.wrappingSubtract(1, ordering: .acquiringAndReleasing).oldValue
        if old == SharedDescriptor.closingBit | 1 { lastBorrowEnded() }
    }

    private func lastBorrowEnded() {
        let action: Closer = closer.withLock { closer in
            let was = closer
            switch was {
            case .nobody: closer = .drained
            case .waiting, .lastBorrowCloses: closer = .closed
            case .drained, .closed: break
            }
            return was
        }
        switch action {
        case .waiting(let continuation): continuation.resume()
        case .lastBorrowCloses: closeOwnedDescriptor(rawValue)
        case .nobody, .drained, .closed: break
        }
    }

    /// Marks the descriptor closing. Returns false if a close had already started (closing is
    /// idempotent), and whether borrows are out.
    private func startClosing() -> (first: Bool, borrowsOut: Bool) {
        let old = state.bitwiseOr(SharedDescriptor.closingBit, ordering: .acquiringAndReleasing).oldValue
        return (old & SharedDescriptor.closingBit == 0, old & ~SharedDescriptor.closingBit != 0)
    }

    /// Starts closing and waits until no operation holds the descriptor: the caller then owns
    /// the number and must close it. Returns false if another close had already started.
    ///
    /// Operations in flight on the runtime's cores are cancelled (`IORING_ASYNC_CANCEL_FD`), and
    /// `abortBlockedOperations`, when given, runs first to end waits the kernel cannot cancel (a
    /// socket's `shutdown(2)` ends a send an io-wq worker is blocked in).
    nonisolated(nonsending) func closeWhenUnused(abortBlockedOperations: ((Int32) -> Void)? = nil) async -> Bool {
        let (first, borrowsOut) = startClosing()
        guard first else { return false }
        guard borrowsOut else { return true }
        abortBlockedOperations?(rawValue)
        cancelOperationsInFlight()
        await withUnsafeContinuation { (continuation: UnsafeContinuation<Void, Never>) in
            if registerCloser(.waiting(continuation)) { continuation.resume() }
        }
        return true
    }

    /// Closes from any thread without waiting: at once if nothing holds the descriptor,
    /// otherwise when the last operation holding it ends (the ones in flight are cancelled).
    func closeSoon(abortBlockedOperations: ((Int32) -> Void)? = nil) {
        let (first, borrowsOut) = startClosing()
        guard first else { return }
        guard borrowsOut else {
            closeOwnedDescriptor(rawValue)
            return
        }
        abortBlockedOperations?(rawValue)
        cancelOperationsInFlight()
        if registerCloser(.lastBorrowCloses) { closeOwnedDescriptor(rawValue) }
    }

    /// Hands the rest of the close to `finisher` (run by the last borrow), unless the last borrow
    /// came back already: then returns true and the caller finishes the close itself.
    private func registerCloser(_ finisher: Closer) -> Bool {
        closer.withLock { closer in
            if case .drained = closer {
                closer = .closed
                return true
            }
            closer = finisher
            return false
        }
    }

    /// Records an operation that holds this descriptor but that the kernel files under another
    /// one (see `cancelledByID`), for a close to cancel by id. Called on `core`'s thread from
    /// the operation's `prepare`, before it is submitted; `operationEnded` when it completed.
    func cancelOnClose(_ id: OperationID, on core: Core) {
        let closing = cancelledByID.withLock { state in
            if !state.closing { state.operations.append((core, id)) }
            return state.closing
        }
        // A close took the list before this operation was recorded: it is cancelled here, by a
        // message the core handles after the job that is submitting it (cancelling it now, before
        // its submission is recorded, would only mark it).
        if closing { core.send(.closure { core.cancelOperation(id) }) }
    }

    /// The operation recorded with ``cancelOnClose(_:on:)`` has completed.
    func operationEnded(_ id: OperationID) {
        cancelledByID.withLock { state in state.operations.removeAll { $0.id == id } }
    }

    /// Cancels every operation on this descriptor on every core of the caller's runtime and of
    /// the runtime it was opened on (an operation may have been started from any of them).
    /// Descriptors made off every runtime and closed off every runtime have no ring to ask for
    /// `IORING_ASYNC_CANCEL_FD`: the close then waits for the operations to end by themselves,
    /// except the ones recorded by id, which any thread can cancel.
    private func cancelOperationsInFlight() {
        let byID = cancelledByID.withLock { state in
            state.closing = true
            return state.operations
        }
        for (core, id) in byID { core.cancelOperation(id) }
        let current = Core.current?.shared
        let fd = rawValue
        for runtime in [current, openedOn === current ? nil : openedOn] {
            for core in runtime?.cores ?? [] {
                core.execute { core.cancelOperations(onDescriptor: fd) }
            }
        }
    }
}
