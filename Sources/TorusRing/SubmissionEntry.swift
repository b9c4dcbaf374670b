internal import CUring

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

    /// `IORING_OP_ASYNC_CANCEL` for the operation whose `user_data` is `target`.
    public func prepareCancel(userData target: UInt64) { torus_prep_cancel(sqe, target, 0) }

    /// `IORING_OP_ASYNC_CANCEL` with `IORING_ASYNC_CANCEL_ANY`: cancels every request in flight.
    public func prepareCancelAll() { torus_prep_cancel_any(sqe) }

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
