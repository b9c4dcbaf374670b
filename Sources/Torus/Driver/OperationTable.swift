import TorusRing

/// One operation's bookkeeping. Lives at a stable address until the driver closes, so that a
/// timespec in it can be handed to the kernel.
struct OperationSlot {
    var generation: UInt32 = 1
    var state = OperationLifecycle.free
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

/// The driver's table of operations, one slot each, their state an ``OperationLifecycle``.
/// Core-thread only.
///
/// Slots are allocated in chunks that never move, so `timespecPointer(for:)` stays valid.
/// An ``OperationID`` whose generation no longer matches its slot (the operation completed and
/// the slot was reused) is stale: cancels and completions for it are ignored.
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
        entry.pointee.state.reserve()
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
        return entry.pointee.state != .free && entry.pointee.generation == id.generation
    }

    /// The state of `id`'s slot, or nil when `id` is stale.
    func state(of id: OperationID) -> OperationLifecycle? {
        isLive(id) ? slot(id.index).pointee.state : nil
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
    @inline(__always)
    mutating func markSubmitted(_ id: OperationID, waiter: OperationWaiter) {
        let entry = slot(id.index)
        entry.pointee.state.submit()
        entry.pointee.waiter = waiter
        inFlight += 1
    }

    /// A cancel was asked for. Returns true when an `ASYNC_CANCEL` should be queued now (the
    /// operation is in the ring and no cancel is on its way); a stale id asks for nothing.
    mutating func requestCancel(_ id: OperationID) -> Bool {
        guard isLive(id) else { return false }
        return slot(id.index).pointee.state.requestCancel() == .sendCancel
    }

    /// The `ASYNC_CANCEL` that ``requestCancel(_:)`` asked for could not be queued; it will be
    /// retried.
    mutating func cancelNotSent(_ id: OperationID) {
        if isLive(id) { slot(id.index).pointee.state.cancelNotSent() }
    }

    /// Whether `id` was cancelled before its SQE was prepared (it must not be submitted).
    func isCancelRequested(_ id: OperationID) -> Bool {
        isLive(id) && slot(id.index).pointee.state == .cancelRequested
    }

    /// Takes the waiter for a completion of `id`. For a final completion (`more == false`) the
    /// slot is freed; its keep-alive is handed back so that it outlives the waiter's handling
    /// (a multishot handler may belong to the very object kept alive). A stale id yields nil.
    mutating func complete(_ id: OperationID, more: Bool) -> (waiter: OperationWaiter, keepAlive: AnyObject?)? {
        guard isLive(id) else { return nil }
        let entry = slot(id.index)
        let waiter = entry.pointee.waiter
        guard entry.pointee.state.complete(more: more) else { return (waiter, nil) }
        let keepAlive = entry.pointee.keepAlive
        recycle(entry, index: id.index)
        inFlight -= 1
        return (waiter, keepAlive)
    }

    /// Frees the slot of an operation that was never submitted (refused, or cancelled first).
    mutating func release(_ id: OperationID) {
        let entry = slot(id.index)
        entry.pointee.state.release()
        recycle(entry, index: id.index)
    }

    /// Puts a slot whose state is already `free` back on the free list under a new generation.
    private mutating func recycle(_ entry: UnsafeMutablePointer<OperationSlot>, index: UInt32) {
        entry.pointee.waiter = .none
        entry.pointee.keepAlive = nil
        entry.pointee.generation = entry.pointee.generation >= 0x7FFF_FFFF ? 1 : entry.pointee.generation + 1
        entry.pointee.nextFree = freeHead
        freeHead = Int32(index)
    }
}
