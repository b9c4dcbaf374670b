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
