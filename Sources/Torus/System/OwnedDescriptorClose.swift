import Glibc

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
