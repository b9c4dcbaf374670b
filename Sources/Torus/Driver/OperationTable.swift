import TorusRing

/// Names one in-flight ring operation: a slot index plus a generation, so that a late cancel
/// for a slot that has since been reused is recognised and ignored.
struct OperationID: Hashable, Sendable {
    var index: UInt32
    var generation: UInt32

    /// The `user_data` the SQE carries. Generations stay below 2^31, so these never collide with
    /// the reserved tags (all of which have the top bit set).
    var userData: UInt64 { UInt64(generation) << 32 | UInt64(index) }

    init(index: UInt32, generation: UInt32) {
        self.index = index
        self.generation = generation
    }

    init(userData: UInt64) {
        index = UInt32(truncatingIfNeeded: userData)
        generation = UInt32(truncatingIfNeeded: userData >> 32)
    }
}

/// `user_data` values that are not operations.
enum ReservedUserData {
    /// The read outstanding on the core's eventfd (foreign-thread wake-ups).
    static let doorbell: UInt64 = .max
    /// A `MSG_RING` wake-up from another core.
    static let wake: UInt64 = .max - 1
    /// The completion of an `ASYNC_CANCEL` request (its outcome shows on the target instead).
    static let cancelRequest: UInt64 = .max - 2
    /// Completions nobody waits for (close of an fd whose owner was dropped, and the like).
    static let ignored: UInt64 = .max - 3
}

/// Who is told when an operation completes.
enum OperationWaiter {
    /// Nothing yet: the slot is reserved but not submitted.
    case none
    /// A suspended task, resumed with the CQE result.
    case continuation(UnsafeContinuation<Int32, Never>)
    /// A job to enqueue when the CQE arrives (timers behind `Task.sleep`).
    case job(UnownedJob)
    /// A callback for each CQE (multishot operations post several).
    case handler((Completion) -> Void)
}

/// One operation's bookkeeping. Lives at a stable address until the core closes, so that a
/// timespec in it can be handed to the kernel.
struct OperationSlot {
    var generation: UInt32 = 1
    var inUse = false
    var submitted = false
    var cancelRequested = false
    var cancelSubmitted = false
    var nextFree: Int32 = -1
    var waiter: OperationWaiter = .none
    // SAFETY: `keepAlive` holds whatever owns memory the kernel may read or write for this
    // operation (buffers, paths, socket addresses). It is released only when the final CQE has
    // been seen, even if the task that started the operation was cancelled long before.
    var keepAlive: AnyObject?
    var timespec = KernelTimespec()
    /// The time limit of an `IORING_OP_LINK_TIMEOUT` linked to this operation (deadline scopes).
    var linkTimespec = KernelTimespec()
}

/// The per-core table of operations in flight. Core-thread only.
///
/// Slots are allocated in chunks that never move, so `timespecPointer(for:)` stays valid.
struct OperationTable: ~Copyable {
    private static let chunkSize = 1024
    private var chunks: [UnsafeMutablePointer<OperationSlot>] = []
    private var freeHead: Int32 = -1
    /// Operations submitted and not yet finished (the doorbell read excluded).
    private(set) var inFlight = 0

    init() {}

    deinit {
        for chunk in chunks {
            chunk.deinitialize(count: OperationTable.chunkSize)
            chunk.deallocate()
        }
    }

    private func slot(_ index: UInt32) -> UnsafeMutablePointer<OperationSlot> {
        let i = Int(index)
        return chunks[i / OperationTable.chunkSize] + (i % OperationTable.chunkSize)
    }

    /// Reserves a slot for a new operation, keeping `keepAlive` alive until it completes.
    mutating func reserve(keepAlive: AnyObject?) -> OperationID {
        if freeHead < 0 { addChunk() }
        let index = UInt32(freeHead)
        let entry = slot(index)
        freeHead = entry.pointee.nextFree
        entry.pointee.inUse = true
        entry.pointee.submitted = false
        entry.pointee.cancelRequested = false
        entry.pointee.cancelSubmitted = false
        entry.pointee.keepAlive = keepAlive
        entry.pointee.waiter = .none
        return OperationID(index: index, generation: entry.pointee.generation)
    }

    private mutating func addChunk() {
        let base = chunks.count * OperationTable.chunkSize
        let chunk = UnsafeMutablePointer<OperationSlot>.allocate(capacity: OperationTable.chunkSize)
        chunk.initialize(repeating: OperationSlot(), count: OperationTable.chunkSize)
        for offset in 0..<OperationTable.chunkSize {
            let next = offset + 1 < OperationTable.chunkSize ? Int32(base + offset + 1) : freeHead
            chunk[offset].nextFree = next
        }
        chunks.append(chunk)
        freeHead = Int32(base)
    }

    /// Whether `id` still names a live slot (not completed and reused).
    func isLive(_ id: OperationID) -> Bool {
        guard Int(id.index) < chunks.count * OperationTable.chunkSize else { return false }
        let entry = slot(id.index)
        return entry.pointee.inUse && entry.pointee.generation == id.generation
    }

    /// Timers armed: `IORING_OP_TIMEOUT`s, counted by ``timespecPointer(for:)``.
    private(set) var timersArmed: UInt64 = 0

    /// The slot's timespec, for a timeout operation about to be queued.
    ///
    /// Every timer (`sleep(for:)`, `Task.sleep`, the deadline of a cancel scope or a select)
    /// takes its timespec here just before its SQE is prepared, which makes this the one place
    /// to count them; the link timeouts of operations under a deadline use
    /// ``linkTimespecPointer(for:)`` and are not counted.
    mutating func timespecPointer(for id: OperationID) -> UnsafeMutablePointer<KernelTimespec> {
        timersArmed &+= 1
        return withUnsafeMutablePointer(to: &slot(id.index).pointee.timespec) { $0 }
    }

    /// The slot's second timespec, for the link timeout that carries a deadline.
    func linkTimespecPointer(for id: OperationID) -> UnsafeMutablePointer<KernelTimespec> {
        withUnsafeMutablePointer(to: &slot(id.index).pointee.linkTimespec) { $0 }
    }

    /// Records that the SQE for `id` is in the ring, with who to tell on completion.
    mutating func markSubmitted(_ id: OperationID, waiter: OperationWaiter) {
        let entry = slot(id.index)
        entry.pointee.submitted = true
        entry.pointee.waiter = waiter
        inFlight += 1
    }

    /// A cancel was asked for. Returns true when an `ASYNC_CANCEL` should be submitted now
    /// (the operation is in the ring and no cancel has been sent for it yet).
    mutating func requestCancel(_ id: OperationID) -> Bool {
        guard isLive(id) else { return false }
        let entry = slot(id.index)
        entry.pointee.cancelRequested = true
        guard entry.pointee.submitted, !entry.pointee.cancelSubmitted else { return false }
        entry.pointee.cancelSubmitted = true
        return true
    }

    /// A cancel SQE could not be queued; it will be retried.
    mutating func cancelNotSent(_ id: OperationID) {
        if isLive(id) { slot(id.index).pointee.cancelSubmitted = false }
    }

    func isCancelRequested(_ id: OperationID) -> Bool {
        isLive(id) && slot(id.index).pointee.cancelRequested
    }

    /// Takes the waiter for a completion of `id`. For a final completion (`more == false`) the
    /// slot is freed; its keep-alive is handed back so that it outlives the waiter's handling
    /// (a multishot handler may belong to the very object kept alive). A stale id yields nil.
    mutating func complete(_ id: OperationID, more: Bool) -> (waiter: OperationWaiter, keepAlive: AnyObject?)? {
        guard isLive(id) else { return nil }
        let entry = slot(id.index)
        let waiter = entry.pointee.waiter
        let keepAlive = more ? nil : entry.pointee.keepAlive
        if !more { release(id, wasSubmitted: entry.pointee.submitted) }
        return (waiter, keepAlive)
    }

    /// Frees a slot (after its final completion, or when it was never submitted).
    mutating func release(_ id: OperationID, wasSubmitted: Bool) {
        let entry = slot(id.index)
        entry.pointee.inUse = false
        entry.pointee.waiter = .none
        entry.pointee.keepAlive = nil
        entry.pointee.generation = entry.pointee.generation >= 0x7FFF_FFFF ? 1 : entry.pointee.generation + 1
        entry.pointee.nextFree = freeHead
        freeHead = Int32(id.index)
        if wasSubmitted { inFlight -= 1 }
    }
}
