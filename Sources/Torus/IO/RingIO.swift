import Glibc
import SystemPackage
import TorusChannels
import TorusRing

/// C strings handed to the kernel (paths), freed only when the operation's final completion
/// has been seen (the operation table holds this object until then).
final class CStringKeepAlive {
    // SAFETY: each pointer is a strdup'd copy, freed in deinit, which runs after the final CQE.
    private(set) var strings: [UnsafeMutablePointer<CChar>] = []

    init(_ paths: [FilePath]) {
        strings = paths.map { path in path.withPlatformString { strdup($0)! } }
    }

    init(strings: [String]) {
        self.strings = strings.map { strdup($0)! }
    }

    subscript(index: Int) -> UnsafePointer<CChar> { UnsafePointer(strings[index]) }

    deinit { for string in strings { free(string) } }
}

/// Submits one ring operation for an I/O call and turns its result into a value or an error.
///
/// - Returns: the non-negative CQE result. A cancelled operation that completed anyway returns
///   its result (bytes already moved are not lost); one the kernel cancelled throws
///   `CancellationError`. `EINTR`, `EAGAIN` and the kernel's restart codes are retried (or
///   turned into `CancellationError` when the wait was cancelled).
/// - Throws: ``IOError`` naming `operation` and the path or address; `CancellationError`;
///   ``RuntimeError/notOnRuntimeThread(operation:)`` off a Torus core.
/// - Parameter descriptor: the descriptor the operation holds (borrowed by the caller), if any:
///   once it is closing, an interrupted operation is not submitted again (see below).
nonisolated(nonsending) func ringIO(
    _ operation: String, path: FilePath? = nil, address: SocketAddress? = nil, keepAlive: AnyObject? = nil,
    cancellable: Bool = true, holding descriptor: SharedDescriptor? = nil,
    _ prepare: (SubmissionEntry, Core, OperationID) -> Void
) async throws -> Int32 {
    guard let core = Core.current else { throw RuntimeError.notOnRuntimeThread(operation: operation) }
    var foreignCancels = 0
    while true {
        let result: Int32
        let fault = FaultInjection.fault(for: operation, path: path, address: address)
        if case .fail(let error)? = fault {
            // As if the kernel had answered at once: nothing was submitted.
            if Task.isCancelled { throw CancellationError() }
            result = -error.rawValue
        } else {
            // A `.short` fault cuts the byte count of a transfer's SQE: a real short transfer.
            var limit: UInt32?
            if case .short(let length)? = fault, transferOperations.contains(operation) { limit = UInt32(clamping: length) }
            result = await core.submitAndAwait(keepAlive: keepAlive, cancellable: cancellable) { entry, id in
                prepare(entry, core, id)
                if let limit { entry.limitLength(to: limit) }
            }
        }
        if result >= 0 { return result }
        switch -result {
        case EINTR, EAGAIN, kernelRestartErrorCodes:
            if isWaitCancelled { throw CancellationError() }
            // A close cancels the operations holding the descriptor once; one the cancel
            // interrupted in an io-wq worker (a splice waiting on a pipe, a read of a terminal)
            // completes with EINTR or a restart code. Submitted again, it would come after the
            // cancel and wait for ever, and the close with it.
            if let descriptor, descriptor.isClosing {
                throw IOError(operation: operation, path: path, address: address, errno: .canceled)
            }
            continue
        case ECANCELED
        where descriptor.map { !$0.isClosing } == true && !isWaitCancelled && !core.stopping
            && foreignCancels < maximumForeignCancels:
            // Cancelled in the kernel, though this task, its scope and its descriptor all go on:
            // the close of another descriptor on the same open file description (a duplicate:
            // two `StandardStreams.input()`, an adopted `dup`), since a close cancels with
            // IORING_ASYNC_CANCEL_FD, which matches the description, not the number. A cancelled
            // operation moved nothing: submit it again. Bounded, so that a kernel that kept
            // answering ECANCELED would surface as an error instead of a loop.
            foreignCancels += 1
            continue
        default:
            throw ringFailure(-result, operation: operation, path: path, address: address, on: core)
        }
    }
}

/// What a ring operation that failed with `errno` (and is not retried) throws: `CancellationError`
/// for a cancel the task or a stopping core asked for, ``IOError`` naming the operation and the
/// path or address otherwise. `EFAULT` traps: Torus handed the kernel a bad address.
func ringFailure(_ errno: Int32, operation: String, path: FilePath?, address: SocketAddress?, on core: Core) -> any Error {
    switch errno {
    case ECANCELED where isWaitCancelled || core.stopping:
        CancellationError()
    case EFAULT:
        trapOnBadAddress(operation)
    default:
        IOError(operation: operation, path: path, address: address, errno: Errno(rawValue: errno))
    }
}

/// How many times in a row an operation cancelled for another descriptor's close is submitted
/// again before its `ECANCELED` is reported (each close of a duplicate cancels once).
let maximumForeignCancels = 8

/// The operations whose SQE length is a byte count, which a `.short` fault may cut.
private let transferOperations: Set<String> = ["read", "write", "recv", "send", "splice"]

/// The kernel's internal "restart the system call" codes (`ERESTARTSYS` 512 to
/// `ERESTART_RESTARTBLOCK` 516). A blocking operation that io_uring runs on a worker thread
/// (a splice into a full pipe, say) and that a cancel interrupts can complete with one of them
/// instead of `-ECANCELED` or `-EINTR`; it is an interruption, and must not surface as
/// "Unknown error 512".
let kernelRestartErrorCodes: ClosedRange<Int32> = 512...516

/// ``ringIO(_:path:address:keepAlive:_:)`` for operations that create a file descriptor (open,
/// accept, socket): if the task was cancelled while the kernel produced the fd anyway, the fd is
/// closed and `CancellationError` thrown, so nothing leaks.
nonisolated(nonsending) func ringIOProducingDescriptor(
    _ operation: String, path: FilePath? = nil, address: SocketAddress? = nil, keepAlive: AnyObject? = nil,
    _ prepare: (SubmissionEntry, Core, OperationID) -> Void
) async throws -> Int32 {
    let fd = try await ringIO(operation, path: path, address: address, keepAlive: keepAlive, prepare)
    if Task.isCancelled {
        closeOwnedDescriptor(fd)
        throw CancellationError()
    }
    return fd
}

/// The largest length one read or write SQE carries (the kernel caps a transfer near 2 GiB).
let maximumTransfer = 1 << 30

/// Closes `fd` with `IORING_OP_CLOSE`, or with a plain `close(2)` where the ring cannot be used:
/// off a core, in a cancelled task (whose ring operations are refused), or when the close never
/// ran (refused before submission, or cancelled in the kernel by a deadline). Either way the
/// descriptor is closed exactly once and never leaks.
///
/// Not through `ringIO`: a close that reports `EINTR` or a restart code (a network or FUSE file
/// system whose flush was interrupted) has released the number all the same, and retrying it
/// could close a number another thread has just been given. Only `ECANCELED` means it never ran.
nonisolated(nonsending) func closeDescriptor(_ fd: Int32, path: FilePath? = nil, address: SocketAddress? = nil) async throws {
    guard let core = Core.current, !Task.isCancelled else {
        closeOwnedDescriptor(fd)
        return
    }
    let result = await core.submitAndAwait(cancellable: false) { entry, _ in entry.prepareClose(fd: fd) }
    let error = result < 0 ? -result : 0
    if error == ECANCELED {
        closeOwnedDescriptor(fd)
        return
    }
    try reportClose(of: fd, error: error, path: path, address: address)
}
