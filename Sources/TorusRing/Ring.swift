internal import CUring
import Glibc

/// One io_uring instance: a submission queue, a completion queue and the fd that names them.
///
/// A `Ring` belongs to the thread that created it. Torus creates each ring on its core's thread
/// because `IORING_SETUP_SINGLE_ISSUER` makes the kernel reject submissions from any other thread
/// (`EEXIST`), and with `IORING_SETUP_DEFER_TASKRUN` completions are only processed when that
/// thread enters the kernel. The type is deliberately not `Sendable`.
public final class Ring {
    // SAFETY: `raw` is the `struct io_uring` allocated by torus_ring_create and freed by
    // torus_ring_destroy in deinit; the kernel maps the rings it points at until then.
    let raw: UnsafeMutableRawPointer
    /// Scratch space for reaping: ``reapBatch(_:)`` copies completions here, then hands them
    /// out; a nested call (a handler that reaps) uses memory of its own, so as not to overwrite
    /// the batch being handled.
    let completionBatch: UnsafeMutablePointer<torus_cqe>
    static let completionBatchSize = 128
    /// ``reapBatch(_:)`` calls in progress (more than one: a handler reaped). Owner thread only,
    /// so without the dynamic exclusivity check a class property gets on every access.
    @exclusivity(unchecked) private var reapDepth = 0

    /// The setup flags in force (the first combination of ``SetupFlags/ladder`` the kernel took).
    public let setupFlags: SetupFlags
    /// The submission queue size.
    public let entries: UInt32
    /// `IORING_FEAT_*` bits the kernel reported.
    public let features: UInt32
    /// Whether a receive may fill several provided buffers in one completion
    /// (`IORING_FEAT_RECVSEND_BUNDLE`) and the kernel posts those completions in order.
    ///
    /// A bundle's completion names only its first buffer; the others are the ones after it in
    /// the group's ring, which the program can name only while it has not recycled buffers
    /// into those slots. Kernels before 6.15 could post the last completion of a multishot
    /// receive late ("io_uring: ensure deferred completions are flushed for multishot"), after
    /// other receives' completions whose buffers may have been recycled meanwhile; 6.15 and
    /// later post them in order. So bundles are used from 6.15 on (6.10-6.14 have the feature).
    public var supportsReceiveBundles: Bool { features & TORUS_FEAT_RECVSEND_BUNDLE != 0 && KernelInfo.isAtLeast(6, 15) }
    /// The ring's file descriptor (the target of `IORING_OP_MSG_RING` from other rings).
    public let fileDescriptor: Int32

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
        precondition(!ladder.isEmpty, "Ring.init needs a non-empty flag ladder")
        for flags in ladder {
            var ring: UnsafeMutableRawPointer?
            var features: UInt32 = 0
            let cqEntries = flags.contains(.cqSize) ? entries &* 4 : 0
            let result = torus_ring_create(&ring, entries, flags.rawValue, cqEntries, &features)
            if result == 0, let ring {
                self.raw = ring
                self.setupFlags = flags
                self.entries = entries
                self.features = features
                self.fileDescriptor = torus_ring_fd(ring)
                self.completionBatch = .allocate(capacity: Ring.completionBatchSize)
                return
            }
            switch -result {
            case EINVAL: continue
            case ENOMEM: throw .lockedMemoryLimit(entries: entries, limit: KernelInfo.memlockLimit)
            case EPERM: throw .notPermitted(disabledSetting: KernelInfo.ioUringDisabledSetting)
            case ENOSYS: throw .notSupported(kernel: KernelInfo.release)
            default: throw .other(errno: -result, entries: entries)
            }
        }
        throw .invalidEntryCount(entries, kernel: KernelInfo.release)
    }

    deinit {
        torus_ring_destroy(raw)
        completionBatch.deallocate()
    }

    // MARK: Submission

    /// Free submission queue slots.
    public var submissionSpaceLeft: UInt32 { torus_ring_sq_space_left(raw) }

    /// SQEs prepared but not yet handed to the kernel.
    public var pendingSubmissions: UInt32 { torus_ring_sq_ready(raw) }

    /// Times ``nextEntry(reserving:)`` found the submission queue full and had to submit to
    /// make room: a turn queued more operations than the ring has entries. Often, and the
    /// ring is too small for the load (``Ring/init(entries:ladder:)``'s `entries`).
    public private(set) var submitsToMakeRoom: UInt64 = 0

    /// The next free SQE, keeping `reserve` slots free for cancellations.
    ///
    /// When the queue is (nearly) full the prepared entries are submitted first, which frees the
    /// whole queue. Returns `nil` only if the kernel accepted none of them (for example while the
    /// completion queue overflows); the caller reaps and retries.
    public func nextEntry(reserving reserve: UInt32 = 0) -> SubmissionEntry? {
        if torus_ring_sq_space_left(raw) <= reserve {
            // Owner thread only (the type is not Sendable), so a plain add; off the fast path.
            submitsToMakeRoom &+= 1
            _ = torus_ring_submit(raw)
            if torus_ring_sq_space_left(raw) <= reserve && reserve > 0 { return nil }
        }
        guard let sqe = torus_ring_get_sqe(raw) else { return nil }
        return SubmissionEntry(sqe)
    }

    /// Hands prepared SQEs to the kernel without waiting. Returns the count or -errno.
    ///
    /// The corresponding C function is `io_uring_submit`.
    @discardableResult
    public func submit() -> Int32 { torus_ring_submit(raw) }

    /// Submits and processes completions without blocking (`io_uring_enter` with GETEVENTS and
    /// `min_complete` 0), which is how a `DEFER_TASKRUN` ring makes progress while busy.
    ///
    /// The corresponding C function is `io_uring_submit_and_get_events`.
    @discardableResult
    public func submitAndGetEvents() -> Int32 { torus_ring_submit_and_get_events(raw) }

    /// Submits and blocks until at least `count` completions are ready (or a signal interrupts).
    ///
    /// The corresponding C function is `io_uring_submit_and_wait`.
    @discardableResult
    public func submitAndWait(_ count: UInt32 = 1) -> Int32 { torus_ring_submit_and_wait(raw, count) }

    // MARK: Completion

    /// Whether completions are waiting in the CQ ring (without entering the kernel).
    public var hasReadyCompletions: Bool { torus_ring_cq_ready(raw) > 0 }

    /// Takes up to one batch of ready completions off the CQ ring and hands each to `body`.
    ///
    /// The batch is copied out and the CQ head advanced before `body` runs, so `body` may submit
    /// new work, and may even reap again (a handler that needs an SQE while the queue is full):
    /// a nested call copies into memory of its own, which leaves the batch being handled intact.
    /// (Not stack memory for every call: `withUnsafeTemporaryAllocation` of the batch's 2 KiB
    /// asks the runtime whether the stack has room, which cost 150 ns per reap.) Returns how many
    /// completions were handled.
    public func reapBatch(_ body: (Completion) -> Void) -> Int {
        let batch = reapDepth == 0 ? completionBatch : .allocate(capacity: Ring.completionBatchSize)
        reapDepth += 1
        defer {
            reapDepth -= 1
            if batch != completionBatch { batch.deallocate() }
        }
        let count = Int(torus_ring_reap(raw, batch, UInt32(Ring.completionBatchSize)))
        for index in 0..<count {
            let cqe = batch[index]
            body(Completion(userData: cqe.user_data, result: cqe.res, flags: cqe.flags))
        }
        return count
    }

    /// The opcode probe of this ring's kernel (nil when the kernel has no `IORING_REGISTER_PROBE`).
    public func probe() -> OpcodeSupport? {
        var supported = [UInt8](repeating: 0, count: 256)
        var last: UInt32 = 0
        let result = supported.withUnsafeMutableBufferPointer {
            torus_ring_probe(raw, $0.baseAddress, UInt32($0.count), &last)
        }
        guard result == 0 else { return nil }
        let ops = (0...min(Int(last), 255)).filter { supported[$0] != 0 }.map { UInt8($0) }
        return OpcodeSupport(supported: Set(ops), lastOpcode: UInt8(min(last, 255)))
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
    public var hasMore: Bool { flags & UInt32(TORUS_CQE_F_MORE) != 0 }
    /// `IORING_CQE_F_BUFFER`: a provided buffer was used; ``bufferID`` says which.
    public var hasBuffer: Bool { flags & UInt32(TORUS_CQE_F_BUFFER) != 0 }
    /// The provided buffer's id when ``hasBuffer``.
    public var bufferID: UInt16 { UInt16(truncatingIfNeeded: flags >> UInt32(TORUS_CQE_BUFFER_SHIFT)) }
}
