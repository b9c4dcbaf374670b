import Glibc
import SystemPackage

/// How a file-system operation reaches the kernel: through the core's io_uring, or as a plain
/// system call on the calling thread.
///
/// io_uring finishes some operations inside the submitting system call when they need no I/O:
/// reads of cached data, opens of paths whose directory entries are cached, closes. Others it
/// always hands to one of its kernel worker threads (io-wq), whether or not they would block:
/// `statx`, `renameat`, `mkdirat`, `unlinkat`, an `openat` that creates a file, and, on ext4,
/// every buffered write. That hand-off costs a thread wake-up and two context switches per
/// operation, which is pure overhead when the inode and the directory are in memory: copying
/// 20,000 small files, it was most of torus-cp's CPU time (docs/benchmarks.md).
///
/// `.inline` makes the system call on the calling thread instead. Use it where the operation
/// cannot wait for a disk, or only rarely: `metadata()` of an open file (its inode is in
/// memory), creating and renaming files in a directory this program just made, buffered writes
/// (which only copy into the page cache unless the kernel throttles a writer that is far ahead
/// of the disk). While the call runs, the core runs nothing else, so keep `.ring` (the
/// default) wherever a cold cache, a network file system or a slow device can make the call wait.
public enum FileOperationRoute: Sendable, Hashable {
    /// Submit to the core's io_uring; the task waits for the completion and the core runs other
    /// tasks meanwhile (the default).
    case ring
    /// A plain system call on the calling thread; the task does not suspend.
    case inline
}

/// Runs a system call for a `.inline` operation: a cancelled task does not start it (as the
/// ring refuses to), `EINTR` is retried, and a failure becomes an ``IOError`` naming the
/// operation and the path.
func inlineSystemCall(_ operation: String, path: FilePath, _ call: () -> Int) throws -> Int {
    try inlineTransfer(operation, path: path, length: 0) { _ in call() }
}

/// ``inlineSystemCall(_:path:_:)`` for a read or write of `length` bytes: `call` gets the length
/// to move, which an injected `.short` fault (``FaultInjection``) cuts.
func inlineTransfer(_ operation: String, path: FilePath, length: Int, _ call: (Int) -> Int) throws -> Int {
    if Task.isCancelled { throw CancellationError() }
    while true {
        var length = length
        switch FaultInjection.fault(for: operation, path: path) {
        case .fail(let error)?:
            if error == .interrupted { continue }
            throw IOError(operation: operation, path: path, errno: error)
        case .short(let limit)?: length = min(length, limit)
        case nil: break
        }
        let result = call(length)
        if result >= 0 { return result }
        let error = Glibc.errno
        if error == EINTR { continue }
        throw IOError(operation: operation, path: path, errno: Errno(rawValue: error))
    }
}

/// ``inlineSystemCall(_:path:_:)`` for calls that report an `Errno` themselves (the ring layer's
/// wrappers of `statx`, `renameat2`, `fallocate`, `copy_file_range`).
func inlineCall<T>(_ operation: String, path: FilePath, _ call: () throws(Errno) -> T) throws -> T {
    if Task.isCancelled { throw CancellationError() }
    if case .fail(let error)? = FaultInjection.fault(for: operation, path: path), error != .interrupted {
        throw IOError(operation: operation, path: path, errno: error)
    }
    return try reportingIOError(operation, path: path, call)
}

/// Runs a call that throws an `Errno`, turning the failure into an ``IOError`` naming the
/// operation and the path (on the core or on the blocking pool).
func reportingIOError<T>(_ operation: String, path: FilePath, _ call: () throws(Errno) -> T) throws -> T {
    do {
        return try call()
    } catch {
        throw IOError(operation: operation, path: path, errno: error)
    }
}
