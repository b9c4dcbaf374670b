import Glibc
import TorusChannels
import TorusRing

/// The I/O half of a core: its io_uring ring and everything that lives on it.
///
/// The driver owns the `Ring`, the ``OperationTable``, the cancels waiting for an SQE, the
/// provided receive buffers and the doorbell (the eventfd read that foreign threads wake it
/// through, and the `MSG_RING` wake-ups it sends to other drivers). It prepares and queues SQEs,
/// reaps completions and hands each to its waiter, and cancels operations. It knows nothing of
/// the executor that owns it: a completion whose waiter is a job lands in ``readyJobs`` for the
/// owner to take, and one that wakes a suspended task (`continuation.resume`) goes through
/// Swift's own executor machinery. `Core` keeps the scheduling (run queue, mailbox, when to
/// enter the kernel) and calls the driver; the driver never calls back into `Core`.
///
/// Core-thread only, except where a member says otherwise: ``wake(from:)`` and the fields it
/// reads (``ringFD``, ``canMessageRing``, written once before the driver is shared, and the
/// eventfd behind its lock).
final class RingDriver: @unchecked Sendable {
    // @unchecked Sendable: the members marked "any thread" are immutable after `start` or
    // behind a lock; everything else is touched on the owning thread only.

    /// SQ slots kept free so that a cancellation can always be queued.
    static let cancelReserve: UInt32 = 8
    /// The smallest ring a driver uses: the cancel reserve, an operation and its linked timeout,
    /// rounded up to the kernel's power of two.
    static let minimumRingEntries: UInt32 = 16

    // MARK: any thread

    /// The eventfd foreign threads write to; nil once closed. The lock makes "signal" and
    /// "close" exclusive so that a late signal never writes to a recycled fd number.
    let doorbell = Lock<EventFD?>(nil)
    // Written once by the owning thread in `start`, before the driver is shared.
    private(set) var ringFD: Int32 = -1
    private(set) var canMessageRing = false
    private(set) var setupFlagsDescription = ""
    private(set) var supportsReceiveBundles = false
    private(set) var operationNames: [String] = []

    // MARK: owning thread only
    // `@exclusivity(unchecked)`: these are touched only on the owning thread, one job at a time,
    // so the dynamic exclusivity checks Swift adds to class properties (a runtime call per
    // access, measurable on the per-operation path) buy nothing here.
    @exclusivity(unchecked) private(set) var ring: Ring? {
        didSet { unretainedRing = ring.map { Unmanaged.passUnretained($0) } }
    }
    /// `ring` for the hot path, lent by ``withRing(_:)`` without the retain and release that
    /// binding the optional costs (several per loop turn and one per operation: 2% of a spawn
    /// and await in a profile). SAFETY: `ring` holds the strong reference for as long as this
    /// is set; both change together, only in `start` and `close`, never inside `withRing`.
    @exclusivity(unchecked) private var unretainedRing: Unmanaged<Ring>?
    @exclusivity(unchecked) var operations = OperationTable()
    @exclusivity(unchecked) var pendingCancels: [OperationID] = []
    /// The provided buffers for multishot receives (registered on first use), their loans, the
    /// receives waiting for one, growth (see ``ProvidedBufferPool``).
    let receiveBuffers: ProvidedBufferPool
    /// Set by ``beginStopping()``: no new operations, everything in flight cancelled.
    @exclusivity(unchecked) var stopping = false
    /// Whether the doorbell read is outstanding.
    @exclusivity(unchecked) var doorbellArmed = false
    /// The doorbell's re-arm found no free SQ slot; the owner's next turn retries it.
    @exclusivity(unchecked) var doorbellRearmPending = false
    @exclusivity(unchecked) var doorbellFD: Int32 = -1
    // SAFETY: the doorbell read writes 8 bytes here. It is freed in deinit after the ring is
    // gone; a core closes the driver only after its loop has seen the read's final completion.
    let doorbellBuffer = UnsafeMutablePointer<UInt64>.allocate(capacity: 1)
    /// Set while completions are being handled; completions a handler reaps meanwhile wait in
    /// `deferredCompletions` (see ``reapCompletions(_:)``).
    @exclusivity(unchecked) private var reaping = false
    @exclusivity(unchecked) private var deferredCompletions: [Completion] = []
    /// Completions reaped and wake-ups seen, for ``Core/statistics``.
    @exclusivity(unchecked) var statistics = DriverStatistics()
    /// Jobs whose timer fired (the waiters of `Task.sleep`), for the owner to move to its run
    /// queue after each reap. A queue rather than a call back into the owner: no closure or
    /// protocol to dispatch through, and the driver needs nothing of the executor.
    @exclusivity(unchecked) var readyJobs = JobQueue(initialCapacity: 16)

    init(receiveBuffers: ProvidedBufferPool) {
        self.receiveBuffers = receiveBuffers
        doorbellBuffer.initialize(to: 0)
    }

    deinit {
        // The ring goes first: once it is destroyed the kernel holds no request that could
        // still write into the doorbell buffer.
        ring = nil
        doorbellBuffer.deallocate()
    }

    /// Takes `ring` and the eventfd `doorbell`, and arms the doorbell read. On the owning thread,
    /// before the driver is shared.
    func start(ring: Ring, doorbell eventFD: EventFD) {
        doorbellFD = eventFD.fd
        doorbell.withLock { $0 = eventFD }
        ringFD = ring.fileDescriptor
        let opcodes = ring.probe()
        canMessageRing = opcodes?.hasMessageRing ?? false
        operationNames = opcodes?.names ?? []
        setupFlagsDescription = ring.setupFlags.description
        supportsReceiveBundles = ring.supportsReceiveBundles
        self.ring = ring
        armDoorbell()
    }

    /// Releases the ring, the eventfd and the receive buffers, once every final completion has
    /// been seen (``isIdle``).
    func close() {
        receiveBuffers.close()
        ring = nil
        doorbell.withLock { $0 = nil }
    }

    /// Nothing in the kernel any more: no operation in flight, no doorbell read outstanding.
    var isIdle: Bool { operations.inFlight == 0 && !doorbellArmed }

    // MARK: Talking to the kernel

    /// An SQE for a new operation, keeping room for cancels. If the kernel cannot take the
    /// queued entries (its completion queue is overflowing), completions are reaped until it can.
    /// - Parameter extra: entries to keep free beyond the cancel reserve, for linked entries
    ///   that must follow this one in the same submission.
    func nextEntry(extra: UInt32 = 0) -> SubmissionEntry {
        let entry = withRing { ring in
            while true {
                if let entry = ring.nextEntry(reserving: RingDriver.cancelReserve + extra) { return entry }
                ring.submitAndGetEvents()
                reapCompletions(ring)
            }
        }
        guard let entry else { preconditionFailure("the ring driver has no ring") }
        return entry
    }

    /// Lends the ring to `body` without reference counting; nil when there is none.
    @inline(__always)
    private func withRing<Result>(_ body: (Ring) -> Result) -> Result? {
        guard let unretainedRing else { return nil }
        return unretainedRing._withUnsafeGuaranteedRef(body)
    }

    /// Submits what is queued and collects what is ready, without waiting (`io_uring_enter`
    /// with GETEVENTS), unless nothing was queued and nothing is in flight; then reaps.
    @discardableResult
    func submitAndReap() -> Int {
        withRing { ring in
            if ring.pendingSubmissions > 0 || operations.inFlight > 0 {
                ring.submitAndGetEvents()
            }
            return reapCompletions(ring)
        } ?? 0
    }

    /// Submits what is queued and blocks in the kernel until a completion arrives (a wake-up
    /// included); the caller reaps. Separate from the reap so that a parked owner can say it is
    /// awake before it spends time reaping (wakers that still see it parked would ring again).
    func waitForCompletion() {
        _ = withRing { $0.submitAndWait(1) }
    }

    /// Hands every ready completion to its waiter. Returns how many there were.
    @discardableResult
    func reapCompletions() -> Int {
        withRing { reapCompletions($0) } ?? 0
    }

    /// ``reapCompletions()`` with the ring already in hand: the loop's hot path binds it once
    /// (each binding of the optional is a retain and a release).
    ///
    /// A handler may need an SQE while the submission queue is full (a send queue sending on
    /// from a completion): ``nextEntry(extra:)`` then submits and reaps from inside the handler.
    /// Completions reaped there are not handled at once but after the rest of the batch being
    /// handled, in the kernel's order: handled at once, a later completion of a multishot
    /// receive would overtake an earlier one still waiting in the outer batch.
    @discardableResult
    private func reapCompletions(_ ring: Ring) -> Int {
        if reaping {
            var count = 0
            while true {
                let reaped = ring.reapBatch { deferredCompletions.append($0) }
                count += reaped
                if reaped == 0 { return count }
            }
        }
        reaping = true
        defer { reaping = false }
        var total = 0
        while true {
            let count = ring.reapBatch { completion in handle(completion) }
            total += count
            // Completions a handler reaped, in order, before anything newer.
            var next = 0
            while next < deferredCompletions.count {
                handle(deferredCompletions[next])
                next += 1
            }
            if next > 0 {
                deferredCompletions.removeAll(keepingCapacity: true)
                statistics.completionsDeferred &+= UInt64(next)
            }
            total += next
            if count == 0 && next == 0 { break }
        }
        statistics.completions &+= UInt64(total)
        return total
    }

    private func handle(_ completion: Completion) {
        switch completion.userData {
        case ReservedUserData.doorbell:
            // The read returns the 8 bytes written; at shutdown it is cancelled instead.
            if completion.result > 0 { statistics.wakeupsByDoorbell &+= 1 }
            doorbellArmed = false
            if !stopping { armDoorbell() }
        case ReservedUserData.wake:
            statistics.wakeupsByMessageRing &+= 1
        case ReservedUserData.cancelRequest, ReservedUserData.ignored:
            break
        default:
            let id = OperationID(userData: completion.userData)
            guard let (waiter, keepAlive) = operations.complete(id, more: completion.hasMore) else { return }
            defer { withExtendedLifetime(keepAlive) {} }
            switch waiter {
            case .continuation(let continuation): continuation.resume(returning: completion.result)
            case .job(let job): readyJobs.push(job)
            case .handler(let handler): handler(completion)
            case .batchMember(let batch, let index): batch.takeUnretainedValue().finish(index, result: completion.result)
            case .none: break
            }
        }
    }

    /// This driver's provided receive buffers, the first group registered on first use.
    func receiveBufferPool() throws -> ProvidedBufferPool {
        if receiveBuffers.groups.isEmpty {
            guard let ring else { throw RuntimeError.shuttingDown }
            try receiveBuffers.start(on: ring)
        }
        return receiveBuffers
    }
}

/// The driver's counters (``Core/statistics`` reports them): plain fields, owning thread only.
struct DriverStatistics {
    var completions: UInt64 = 0
    var wakeupsByMessageRing: UInt64 = 0
    var wakeupsByDoorbell: UInt64 = 0
    /// Completions a handler reaped (it needed an SQE while the queue was full), handled after
    /// the batch it interrupted.
    var completionsDeferred: UInt64 = 0
}
