internal import CUring
import SystemPackage

/// A prepared-but-unsubmitted SQE, valid until the next submit on its ring.
///
/// Each `prepare…` method wraps one liburing `io_uring_prep_*` helper. Pointers passed in must
/// stay valid until the operation's final completion: the caller (the operation table in Torus)
/// keeps their owners alive.
public struct SubmissionEntry {
    let sqe: UnsafeMutableRawPointer

    init(_ sqe: UnsafeMutableRawPointer) { self.sqe = sqe }

    /// Sets the value the completion will carry back.
    public func setUserData(_ value: UInt64) { torus_sqe_set_data(sqe, value) }

    /// Adds `IOSQE_*` flags.
    public func addFlags(_ flags: SubmissionFlags) { torus_sqe_add_flags(sqe, flags.rawValue) }

    /// `IORING_OP_NOP`: completes at once with result 0.
    public func prepareNop() { torus_prep_nop(sqe) }

    /// `IORING_OP_TIMEOUT` as a pure timer: completes with `-ETIME` when `timespec` elapses.
    /// - Parameter absolute: `timespec` is a `CLOCK_MONOTONIC` instant rather than a duration.
    public func prepareTimeout(_ timespec: UnsafeMutablePointer<KernelTimespec>, absolute: Bool = false) {
        // SAFETY: KernelTimespec has the layout of struct __kernel_timespec (two Int64s), and the
        // caller keeps it alive until the completion.
        timespec.withMemoryRebound(to: torus_timespec.self, capacity: 1) {
            torus_prep_timeout(sqe, $0, 0, absolute ? 1 : 0)
        }
    }

    /// `IORING_OP_LINK_TIMEOUT`: cancels the operation in the SQE before this one (which must
    /// carry `IOSQE_IO_LINK`) if it has not completed when `timespec` elapses. The operation then
    /// completes with `-ECANCELED`, this entry with `-ETIME`; if the operation finishes first,
    /// this entry completes with `-ECANCELED`.
    ///
    /// The corresponding C function is `io_uring_prep_link_timeout`.
    public func prepareLinkTimeout(_ timespec: UnsafeMutablePointer<KernelTimespec>) {
        // SAFETY: as in prepareTimeout; the kernel copies the timespec while the SQE is
        // submitted, and the caller keeps it alive at least until then.
        timespec.withMemoryRebound(to: torus_timespec.self, capacity: 1) {
            torus_prep_link_timeout(sqe, $0, 0)
        }
    }

    /// `IORING_OP_ASYNC_CANCEL` for the operation whose `user_data` is `target`.
    public func prepareCancel(userData target: UInt64) { torus_prep_cancel(sqe, target, 0) }

    /// `IORING_OP_ASYNC_CANCEL` with `IORING_ASYNC_CANCEL_ANY`: cancels every request in flight.
    public func prepareCancelAll() { torus_prep_cancel_any(sqe) }

    /// `IORING_OP_ASYNC_CANCEL` with `IORING_ASYNC_CANCEL_FD | IORING_ASYNC_CANCEL_ALL`: cancels
    /// every request in flight on descriptor `fd` (kernel 5.19+; older kernels complete it with
    /// `-EINVAL`).
    public func prepareCancel(fd: Int32) { torus_prep_cancel_fd(sqe, fd) }

    /// Cuts the byte count of a prepared read, write, send, receive or splice to at most
    /// `limit` (fault injection: a real short transfer). Other opcodes use the field otherwise.
    public func limitLength(to limit: UInt32) { torus_sqe_limit_length(sqe, limit) }

    /// `IORING_OP_MSG_RING`: posts a completion carrying `userData` and `result` on another ring.
    public func prepareMessageRing(targetRingFD: Int32, result: UInt32, userData: UInt64) {
        torus_prep_msg_ring(sqe, targetRingFD, result, userData)
    }

    /// `IORING_OP_READ` of `length` bytes at `offset` (`UInt64.max`: the file position) into `buffer`.
    public func prepareRead(fd: Int32, buffer: UnsafeMutableRawPointer, length: UInt32, offset: UInt64) {
        torus_prep_read(sqe, fd, buffer, length, offset)
    }

    /// `IORING_OP_WRITE` of `length` bytes at `offset` (`UInt64.max`: the file position) from `buffer`.
    public func prepareWrite(fd: Int32, buffer: UnsafeRawPointer, length: UInt32, offset: UInt64) {
        torus_prep_write(sqe, fd, buffer, length, offset)
    }

    /// `IORING_OP_CLOSE` of `fd`.
    public func prepareClose(fd: Int32) { torus_prep_close(sqe, fd) }

    /// `O_DIRECT` for this architecture.
    public static var directIOFlag: Int32 { torus_o_direct() }

    /// `AT_FDCWD`: paths relative to the working directory.
    public static let currentDirectory: Int32 = Int32(TORUS_AT_FDCWD)

    /// `IORING_OP_OPENAT`.
    public func prepareOpen(directoryFD: Int32, path: UnsafePointer<CChar>, flags: Int32, mode: UInt32) {
        torus_prep_openat(sqe, directoryFD, path, flags, mode)
    }

    /// `IORING_OP_STATX` into `buffer` (``FileStatusBuffer/byteCount`` bytes).
    public func prepareStatx(directoryFD: Int32, path: UnsafePointer<CChar>, followSymlinks: Bool, buffer: UnsafeMutableRawPointer) {
        let flags = followSymlinks ? 0 : Int32(TORUS_AT_SYMLINK_NOFOLLOW)
        torus_prep_statx(sqe, directoryFD, path, flags, UInt32(TORUS_STATX_BASIC_STATS | TORUS_STATX_BTIME), buffer)
    }

    /// `IORING_OP_STATX` of an open file (`AT_EMPTY_PATH`).
    public func prepareStatx(fd: Int32, emptyPath: UnsafePointer<CChar>, buffer: UnsafeMutableRawPointer) {
        torus_prep_statx(sqe, fd, emptyPath, Int32(TORUS_AT_EMPTY_PATH), UInt32(TORUS_STATX_BASIC_STATS | TORUS_STATX_BTIME), buffer)
    }

    /// `IORING_OP_FSYNC` (`IORING_FSYNC_DATASYNC` when `dataOnly`).
    public func prepareFsync(fd: Int32, dataOnly: Bool) { torus_prep_fsync(sqe, fd, dataOnly ? 1 : 0) }

    /// `IORING_OP_FADVISE` with `POSIX_FADV_WILLNEED`: start reading the range into the page cache.
    public func prepareWillNeed(fd: Int32, offset: UInt64, length: UInt32) { torus_prep_fadvise(sqe, fd, offset, length, 1) }

    /// `IORING_OP_FALLOCATE` (mode 0: allocate `[offset, offset + length)` and extend the size).
    public func prepareAllocate(fd: Int32, offset: UInt64, length: UInt64) { torus_prep_fallocate(sqe, fd, offset, length) }

    /// `IORING_OP_MKDIRAT`.
    public func prepareMakeDirectory(directoryFD: Int32, path: UnsafePointer<CChar>, mode: UInt32) {
        torus_prep_mkdirat(sqe, directoryFD, path, mode)
    }

    /// `IORING_OP_UNLINKAT` (`removeDirectory`: `AT_REMOVEDIR`).
    public func prepareUnlink(directoryFD: Int32, path: UnsafePointer<CChar>, removeDirectory: Bool) {
        torus_prep_unlinkat(sqe, directoryFD, path, removeDirectory ? Int32(TORUS_AT_REMOVEDIR) : 0)
    }

    /// `IORING_OP_RENAMEAT` (`noReplace`: `RENAME_NOREPLACE`).
    public func prepareRename(from old: UnsafePointer<CChar>, to new: UnsafePointer<CChar>, noReplace: Bool) {
        torus_prep_renameat(sqe, Int32(TORUS_AT_FDCWD), old, Int32(TORUS_AT_FDCWD), new, noReplace ? UInt32(TORUS_RENAME_NOREPLACE) : 0)
    }

    /// `IORING_OP_LINKAT` (a hard link).
    public func prepareLink(from existing: UnsafePointer<CChar>, to new: UnsafePointer<CChar>) {
        torus_prep_linkat(sqe, Int32(TORUS_AT_FDCWD), existing, Int32(TORUS_AT_FDCWD), new, 0)
    }

    /// `IORING_OP_SYMLINKAT`.
    public func prepareSymlink(target: UnsafePointer<CChar>, at path: UnsafePointer<CChar>) {
        torus_prep_symlinkat(sqe, target, Int32(TORUS_AT_FDCWD), path)
    }

    /// `IORING_OP_ACCEPT`, single-shot or multishot.
    public func prepareAccept(fd: Int32, address: UnsafeMutableRawPointer?, length: UnsafeMutablePointer<UInt32>?, flags: Int32, multishot: Bool) {
        torus_prep_accept(sqe, fd, address, length, flags, multishot ? 1 : 0)
    }

    /// `IORING_OP_CONNECT`.
    public func prepareConnect(fd: Int32, address: UnsafeRawPointer, length: UInt32) {
        torus_prep_connect(sqe, fd, address, length)
    }

    /// `IORING_OP_RECV`.
    public func prepareReceive(fd: Int32, buffer: UnsafeMutableRawPointer, length: Int, flags: Int32) {
        torus_prep_recv(sqe, fd, buffer, UInt64(length), flags)
    }

    /// `IORING_OP_SEND`.
    public func prepareSend(fd: Int32, buffer: UnsafeRawPointer, length: Int, flags: Int32) {
        torus_prep_send(sqe, fd, buffer, UInt64(length), flags)
    }

    /// `IORING_OP_SHUTDOWN` (`how`: SHUT_RD, SHUT_WR, SHUT_RDWR).
    public func prepareShutdown(fd: Int32, how: Int32) { torus_prep_shutdown(sqe, fd, how) }

    /// `IORING_OP_SENDMSG` with a `struct msghdr`.
    public func prepareSendMessage(fd: Int32, message: UnsafeRawPointer, flags: UInt32) {
        torus_prep_sendmsg(sqe, fd, message, flags)
    }

    /// `IORING_OP_RECVMSG` with a `struct msghdr`.
    public func prepareReceiveMessage(fd: Int32, message: UnsafeMutableRawPointer, flags: UInt32) {
        torus_prep_recvmsg(sqe, fd, message, flags)
    }

    /// Multishot `IORING_OP_RECV` taking buffers from provided-buffer group `group`: one
    /// completion per chunk received, each naming the buffer it filled; with `bundle`
    /// (``Ring/supportsReceiveBundles``), a chunk may fill several buffers, the named one and
    /// the ones after it in the group's ring (``ProvidedBufferRing/bufferID(after:by:)``).
    public func prepareMultishotReceive(fd: Int32, group: Int32, bundle: Bool = false) {
        torus_prep_recv_multishot(sqe, fd, group, bundle ? 1 : 0)
    }

    /// `IORING_OP_SPLICE` (offsets of -1: the fd's position / a pipe).
    public func prepareSplice(
        from input: Int32, offset inputOffset: Int64, to output: Int32, offset outputOffset: Int64, length: UInt32, flags: UInt32
    ) {
        torus_prep_splice(sqe, input, inputOffset, output, outputOffset, length, flags)
    }
}

/// The kernel's `struct statx`, filled by `IORING_OP_STATX`, and the fields Torus reads from it.
public enum FileStatusBuffer {
    /// Bytes to allocate for one `struct statx`.
    public static var byteCount: Int { Int(torus_statx_size()) }

    /// `statx(2)` as a plain system call on the calling thread (`AT_EMPTY_PATH` when `path` is
    /// empty: the file `directoryFD` itself), for the same fields as `IORING_OP_STATX`.
    public static func stat(directoryFD: Int32, path: String, followSymlinks: Bool) throws(Errno) -> RawFileStatus {
        try path.withCString { path in Result { () throws(Errno) in try stat(directoryFD: directoryFD, path: path, followSymlinks: followSymlinks) } }
            .get()
    }

    /// ``stat(directoryFD:path:followSymlinks:)`` for a name given as bytes (a C string), which
    /// need not be valid UTF-8.
    public static func stat(directoryFD: Int32, path: UnsafePointer<CChar>, followSymlinks: Bool) throws(Errno) -> RawFileStatus {
        let result: Result<RawFileStatus, Errno> = withUnsafeTemporaryAllocation(byteCount: byteCount, alignment: 16) { buffer in
            // SAFETY: the buffer lives for this closure, which the system call does not outlive.
            let status = torus_statx_now(directoryFD, path, followSymlinks ? 1 : 0, buffer.baseAddress!)
            return status == 0 ? .success(extract(from: buffer.baseAddress!)) : .failure(Errno(rawValue: -status))
        }
        return try result.get()
    }

    /// The fields of a filled `struct statx`.
    public static func extract(from buffer: UnsafeRawPointer) -> RawFileStatus {
        var raw = torus_file_stat()
        torus_statx_extract(buffer, &raw)
        return RawFileStatus(
            size: raw.size, blocks: raw.blocks, mode: raw.mode, linkCount: raw.nlink, uid: raw.uid, gid: raw.gid,
            inode: raw.inode, deviceMajor: raw.dev_major, deviceMinor: raw.dev_minor,
            accessed: (raw.atime_sec, raw.atime_nsec), modified: (raw.mtime_sec, raw.mtime_nsec),
            changed: (raw.ctime_sec, raw.ctime_nsec), created: (raw.btime_sec, raw.btime_nsec),
            hasCreationTime: raw.mask & UInt32(TORUS_STATX_BTIME) != 0, blockSize: raw.blksize)
    }
}

/// `struct statx`, flattened.
public struct RawFileStatus: Sendable {
    public var size: UInt64
    public var blocks: UInt64
    public var mode: UInt32
    public var linkCount: UInt32
    public var uid: UInt32
    public var gid: UInt32
    public var inode: UInt64
    public var deviceMajor: UInt32
    public var deviceMinor: UInt32
    public var accessed: (seconds: Int64, nanoseconds: UInt32)
    public var modified: (seconds: Int64, nanoseconds: UInt32)
    public var changed: (seconds: Int64, nanoseconds: UInt32)
    public var created: (seconds: Int64, nanoseconds: UInt32)
    public var hasCreationTime: Bool
    public var blockSize: UInt32
}

/// `IOSQE_*` submission flags.
public struct SubmissionFlags: OptionSet, Sendable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    /// `IOSQE_IO_LINK`: the next SQE starts only after this one succeeds.
    public static let link = SubmissionFlags(rawValue: UInt32(TORUS_SQE_IO_LINK))
    /// `IOSQE_ASYNC`: go straight to the kernel's async worker.
    public static let async = SubmissionFlags(rawValue: UInt32(TORUS_SQE_ASYNC))
    /// `IOSQE_CQE_SKIP_SUCCESS`: post no completion when the operation succeeds.
    public static let skipSuccess = SubmissionFlags(rawValue: UInt32(TORUS_SQE_CQE_SKIP_SUCCESS))
    /// `IOSQE_BUFFER_SELECT`: take a buffer from a provided-buffer group.
    public static let bufferSelect = SubmissionFlags(rawValue: UInt32(TORUS_SQE_BUFFER_SELECT))
}

/// The kernel's `struct __kernel_timespec`, declared here so that callers need not import CUring.
public struct KernelTimespec: Sendable {
    public var seconds: Int64
    public var nanoseconds: Int64
    public init(seconds: Int64 = 0, nanoseconds: Int64 = 0) {
        self.seconds = seconds
        self.nanoseconds = nanoseconds
    }
    /// A timespec for a non-negative duration.
    public init(_ duration: Duration) {
        let (seconds, attoseconds) = duration.components
        self.init(seconds: max(0, seconds), nanoseconds: seconds < 0 ? 0 : attoseconds / 1_000_000_000)
    }
}
