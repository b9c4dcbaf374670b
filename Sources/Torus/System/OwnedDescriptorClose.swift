import Glibc
import SystemPackage

/// `close(2)` of a descriptor Torus owns and nothing uses any more.
///
/// On Linux the number is released even when `close` reports `EINTR` or `EIO`, so it is never
/// retried (a retry could close a number another thread has just been given). `EBADF` can only
/// mean that someone closed a descriptor Torus owns behind its back, a bug that may already have
/// sent an operation to the wrong file: it traps, as SwiftNIO's `close` wrapper does.
package func closeOwnedDescriptor(_ fd: Int32) {
    if Glibc.close(fd) != 0 && errno == EBADF {
        preconditionFailure("close(\(fd)): EBADF: a descriptor owned by Torus was closed behind its back")
    }
}

/// ``closeOwnedDescriptor(_:)`` for a close whose failure the caller reports (a file closed
/// with the `.inline` route): `EINTR` and the kernel's restart codes mean the number is released
/// (never retried), `EBADF` traps, anything else (`EIO` from a network file system's flush, say)
/// is an ``IOError`` naming `close`. A fault injected into `close` is reported after the real
/// close, as on the ring (a failed close has still released the number on Linux).
func closeOwnedDescriptorReporting(_ fd: Int32, path: FilePath? = nil, address: SocketAddress? = nil) throws(IOError) {
    try reportClose(of: fd, error: Glibc.close(fd) == 0 ? 0 : errno, path: path, address: address)
}

/// What a close of owned descriptor `fd` that ended with `error` (0 for success) means, on the
/// ring or inline: `EINTR` and the restart codes mean released, `EBADF` traps, anything else is
/// an ``IOError``. A fault injected into `close` replaces the outcome after the real close.
func reportClose(of fd: Int32, error: Int32, path: FilePath?, address: SocketAddress?) throws(IOError) {
    var error = error
    if case .fail(let injected)? = FaultInjection.fault(for: "close", path: path, address: address) { error = injected.rawValue }
    switch error {
    case 0, EINTR, kernelRestartErrorCodes: return
    case EBADF: preconditionFailure("close(\(fd)): EBADF: a descriptor owned by Torus was closed behind its back")
    default: throw IOError(operation: "close", path: path, address: address, errno: Errno(rawValue: error))
    }
}
