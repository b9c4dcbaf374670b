internal import CUring
import Glibc

/// One io_uring instance: a submission queue, a completion queue and the fd that names them.
///
/// A `Ring` belongs to the thread that created it. Torus creates each ring on its core's thread
/// because `IORING_SETUP_SINGLE_ISSUER` makes the kernel reject submissions from any other thread
/// (`EEXIST`), and with `IORING_SETUP_DEFER_TASKRUN` completions are only processed when that
/// thread enters the kernel. The type is deliberately not `Sendable`.
public final class Ring {
    // SAFETY: `raw` is allocated here, initialised by io_uring_queue_init_params and freed in
    // deinit after io_uring_queue_exit; the kernel maps the rings it points at until then.
    let raw: UnsafeMutablePointer<io_uring>
    /// Scratch space for io_uring_peek_batch_cqe, reused on every reap.
    let cqeBatch: UnsafeMutablePointer<UnsafeMutablePointer<io_uring_cqe>?>
    static let cqeBatchSize: UInt32 = 128

    /// The setup flags in force (the first combination of ``SetupFlags/ladder`` the kernel took).
    public let setupFlags: SetupFlags
    /// The submission queue size.
    public let entries: UInt32
    /// `IORING_FEAT_*` bits the kernel reported.
    public let features: UInt32

    /// The ring's file descriptor (the target of `IORING_OP_MSG_RING` from other rings).
    public var fileDescriptor: Int32 { raw.pointee.ring_fd }

    /// Creates a ring on the calling thread.
    ///
    /// - Parameters:
    ///   - entries: submission queue entries (1...32768); the completion queue gets 4x as many.
    ///   - ladder: flag combinations to try, best first. `EINVAL` moves to the next one.
    /// - Throws: ``RingSetupError`` naming the cause (memlock limit, `io_uring_disabled`,
    ///   seccomp, kernel version, entry count) and the fix.
    ///
    /// The corresponding C function is `io_uring_queue_init_params`.
    public init(entries: UInt32 = 256, ladder: [SetupFlags] = SetupFlags.ladder) throws(RingSetupError) {
        let raw = UnsafeMutablePointer<io_uring>.allocate(capacity: 1)
        raw.initialize(to: io_uring())
        var lastEINVAL = false
        for flags in ladder {
            var params = io_uring_params()
            params.flags = flags.rawValue
            if flags.contains(.cqSize) { params.cq_entries = entries &* 4 }
            let result = io_uring_queue_init_params(entries, raw, &params)
            if result == 0 {
                self.raw = raw
                self.setupFlags = flags
                self.entries = entries
                self.features = params.features
                self.cqeBatch = .allocate(capacity: Int(Ring.cqeBatchSize))
                return
            }
            switch -result {
            case EINVAL:
                lastEINVAL = true
                continue
            case ENOMEM:
                raw.deallocate()
                throw .lockedMemoryLimit(entries: entries, limit: KernelInfo.memlockLimit)
            case EPERM:
                raw.deallocate()
                throw .notPermitted(disabledSetting: KernelInfo.ioUringDisabledSetting)
            case ENOSYS:
                raw.deallocate()
                throw .notSupported(kernel: KernelInfo.release)
            default:
                raw.deallocate()
                throw .other(errno: -result, entries: entries)
            }
        }
        raw.deallocate()
        precondition(lastEINVAL, "Ring.init needs a non-empty flag ladder")
        throw .invalidEntryCount(entries, kernel: KernelInfo.release)
    }

    deinit {
        io_uring_queue_exit(raw)
        raw.deallocate()
        cqeBatch.deallocate()
    }

    // MARK: Submission

    /// Free submission queue slots.
    public var submissionSpaceLeft: UInt32 { io_uring_sq_space_left(raw) }

    /// SQEs prepared but not yet handed to the kernel.
    public var pendingSubmissions: UInt32 { io_uring_sq_ready(raw) }

    /// The next free SQE, keeping `reserve` slots free for cancellations.
    ///
    /// When the queue is (nearly) full the prepared entries are submitted first, which frees the
    /// whole queue. Returns `nil` only if the kernel accepted none of them (for example while the
    /// completion queue overflows); the caller retries after reaping.
    
    public func nextEntry(reserving reserve: UInt32 = 0) -> SubmissionEntry? {
        if io_uring_sq_space_left(raw) <= reserve {
            _ = io_uring_submit(raw)
            if io_uring_sq_space_left(raw) <= reserve && reserve > 0 { return nil }
        }
        guard let sqe = io_uring_get_sqe(raw) else { return nil }
        return SubmissionEntry(sqe)
    }

    /// Hands prepared SQEs to the kernel without waiting. Returns the count or -errno.
    ///
    /// The corresponding C function is `io_uring_submit`.
    @discardableResult
    public func submit() -> Int32 { io_uring_submit(raw) }

    /// Submits and processes completions without blocking (`io_uring_enter` with GETEVENTS and
    /// `min_complete` 0), which is how a `DEFER_TASKRUN` ring makes progress while busy.
    ///
    /// The corresponding C function is `io_uring_submit_and_get_events`.
    @discardableResult
    public func submitAndGetEvents() -> Int32 { io_uring_submit_and_get_events(raw) }

    /// Submits and blocks until at least `count` completions are ready (or a signal interrupts).
    ///
    /// The corresponding C function is `io_uring_submit_and_wait`.
    @discardableResult
    public func submitAndWait(_ count: UInt32 = 1) -> Int32 { io_uring_submit_and_wait(raw, count) }

    // MARK: Completion

    /// Whether completions are waiting in the CQ ring (without entering the kernel).
    public var hasReadyCompletions: Bool { io_uring_cq_ready(raw) > 0 }

    /// Takes up to one batch of ready completions off the CQ ring and hands each to `body`.
    ///
    /// The batch is copied out and the CQ head advanced before `body` runs, so `body` may submit
    /// new work. Returns how many completions were handled.
    
    public func reapBatch(_ body: (Completion) -> Void) -> Int {
        let count = Int(io_uring_peek_batch_cqe(raw, cqeBatch, Ring.cqeBatchSize))
        if count == 0 { return 0 }
        return withUnsafeTemporaryAllocation(of: Completion.self, capacity: count) { copies in
            for index in 0..<count {
                let cqe = cqeBatch[index].unsafelyUnwrapped.pointee
                copies.initializeElement(at: index, to: Completion(userData: cqe.user_data, result: cqe.res, flags: cqe.flags))
            }
            io_uring_cq_advance(raw, UInt32(count))
            for index in 0..<count { body(copies[index]) }
            return count
        }
    }

    /// The opcode probe of this ring's kernel (nil when the kernel has no `IORING_REGISTER_PROBE`).
    public func probe() -> OpcodeSupport? {
        guard let probe = io_uring_get_probe_ring(raw) else { return nil }
        defer { io_uring_free_probe(probe) }
        return OpcodeSupport(probe)
    }
}

/// One completion queue entry, copied out of the ring.
public struct Completion: Sendable {
    /// The `user_data` given to the SQE.
    public var userData: UInt64
    /// The result: non-negative on success, `-errno` on failure.
    public var result: Int32
    /// `IORING_CQE_F_*` flags.
    public var flags: UInt32

    public init(userData: UInt64, result: Int32, flags: UInt32) {
        self.userData = userData
        self.result = result
        self.flags = flags
    }

    /// `IORING_CQE_F_MORE`: a multishot operation will post more completions.
    public var hasMore: Bool { flags & IORING_CQE_F_MORE != 0 }
    /// `IORING_CQE_F_BUFFER`: a provided buffer was used; ``bufferID`` says which.
    public var hasBuffer: Bool { flags & IORING_CQE_F_BUFFER != 0 }
    /// The provided buffer's id when ``hasBuffer``.
    public var bufferID: UInt16 { UInt16(truncatingIfNeeded: flags >> IORING_CQE_BUFFER_SHIFT) }
}
