import Glibc
import Logging
import TorusChannels
import TorusRing

/// A core's provided buffers for multishot receives: the buffer groups registered with the
/// kernel, the buffers out on loan (delivered by a completion, not yet given back), the receives
/// waiting for one after the kernel found none (`ENOBUFS`), and growth.
///
/// The first group (``ProvidedBufferRing``, group id 1, ``RuntimeConfiguration/receiveBufferCount``
/// buffers) is registered on the core's first ``TCPStream/receivedChunks()``. When a receive
/// starves and every buffer is on loan, the pool adds a group as large as all the groups so far
/// (a power of two, at most 32,768 buffers), up to ``RuntimeConfiguration/receiveBufferLimit``
/// buffers in all. A group's size is fixed when it is registered, and growing by a new group
/// leaves the old ones, and every buffer on loan from them, untouched: nothing is re-registered
/// or moved, so the kernel never loses a buffer it may still write into. Groups stay until the
/// core stops (no shrinking).
///
/// At the limit a starved receive waits for a buffer to come back, not on a timer: no polling
/// while the pool is empty, and the waiting receives are served in turn (first starved, first
/// armed). Core-thread only.
///
/// Warm buffers: of each group's free buffers only a window is posted to the kernel, the ones
/// given back last (see ``ProvidedBufferRing``): the kernel takes posted buffers in ring order,
/// and posting all 1,024 made every receive write into memory last used 16 MiB of traffic ago
/// (the bulk echo load spent 3-5x SwiftNIO's time per message in the kernel's copies). The
/// window starts at ``initialWindow`` buffers, is topped up once per turn of the core's loop
/// (``refill()``, before the core enters the kernel), doubles when a receive finds the ring
/// empty while buffers are held (`ENOBUFS`: one turn took more than the window), and halves
/// when a long run of turns used at most a quarter of it.
final class ProvidedBufferPool {
    /// The buffers of the first group.
    let initialCount: Int
    /// The size of every buffer.
    let bufferSize: Int
    /// The most buffers the groups may hold in all.
    let limit: Int
    /// ``RuntimeConfiguration/receiveBundles``: whether receives may ask for bundles.
    private let bundlesAllowed: Bool
    /// Receives are armed as bundles: allowed, and the ring supports them (set by `start`).
    private(set) var receivesInBundles = false
    /// Completions that filled more than one buffer.
    @exclusivity(unchecked) private(set) var bundledCompletions: UInt64 = 0
    private let logger: Logger
    private let coreIndex: Int
    /// The ring the groups are registered with; nil before the first group and after `close`.
    private var ring: Ring?
    /// The groups; group id `index + 1`. Ids are never reused while the core runs: a receive
    /// armed on a group records it (``ArmedGroup``) and reads its completions' buffer ids
    /// against it.
    // SAFETY: the kernel writes into a group's buffers while they are in its ring or picked for
    // a receive not yet completed. This array keeps every group (its registration and memory,
    // freed together in ``ProvidedBufferRing``'s deinit, unregistered first) until `close`,
    // which runs after the core's loop has seen every final completion; a buffer on loan keeps
    // its group alive in its ``ReceivedBuffer``, an armed receive in its ``ArmedGroup``.
    private(set) var groups: [ProvidedBufferRing] = []
    /// Buffers on loan, per group (same index).
    @exclusivity(unchecked) private var lentByGroup: [Int] = []
    /// Buffers on loan from all groups.
    @exclusivity(unchecked) private(set) var lent = 0
    /// Buffers in all groups.
    private(set) var capacity = 0
    /// Groups added beyond the first.
    private(set) var growths: UInt64 = 0
    /// Starved receives that had to wait for a buffer to come back (the pool was at its limit).
    private(set) var waits: UInt64 = 0
    /// Adding a group failed (memory): the pool stays as it is.
    private var growthFailed = false
    /// The first wait at the limit has been logged.
    private var reportedLimit = false
    /// Receives waiting for a buffer; each returns false if it no longer waits (cancelled or
    /// gone), and the buffer is offered to the next.
    @exclusivity(unchecked) private var waiters = RingBuffer<() -> Bool>()

    /// The buffers a group posts at first: 1 MiB of 16 KiB buffers, warm in a CPU's caches.
    static let initialWindow = 64
    /// Turns that took buffers between two looks at whether a window may shrink.
    static let decayTurns = 1024
    /// How many free buffers of each group may be posted (same index as `groups`).
    @exclusivity(unchecked) private var windows: [Int] = []
    /// The most buffers of each group's window a turn used since the last look at shrinking.
    @exclusivity(unchecked) private var peakUse: [Int] = []
    /// Each group's posted buffers when its window was last topped up: a turn used what it
    /// took of them. (Not the window: while buffers are on loan for long, fewer than the
    /// window may be free, and the gap is no turn's use.)
    @exclusivity(unchecked) private var toppedUp: [Int] = []
    /// A completion took buffers since the last ``refill()``.
    @exclusivity(unchecked) private var taken = false
    /// Turns with buffers taken since the last look at shrinking.
    @exclusivity(unchecked) private var turnsSinceDecay = 0
    /// The windows were widened since the last ``refill()`` (once per turn is enough: several
    /// receives starve together when a turn empties the ring).
    @exclusivity(unchecked) private var widenedThisTurn = false
    /// Times a window was widened (a receive found the ring empty with buffers held).
    private(set) var windowWidenings: UInt64 = 0

    init(initialCount: Int, bufferSize: Int, limit: Int, bundles: Bool = true, logger: Logger, coreIndex: Int) {
        self.initialCount = initialCount
        bundlesAllowed = bundles
        self.bufferSize = bufferSize
        self.limit = limit
        self.logger = logger
        self.coreIndex = coreIndex
    }

    /// Registers the first group on `ring`, unless it is registered already.
    /// - Throws: ``IOError`` (`io_uring_register_buf_ring`) when the kernel refuses.
    func start(on ring: Ring) throws {
        guard groups.isEmpty else { return }
        var code: Int32 = 0
        guard
            let group = ProvidedBufferRing(
                ring: ring, group: 1, count: initialCount, size: bufferSize, posted: 0, error: &code)
        else {
            throw IOError(operation: "io_uring_register_buf_ring", errno: Errno(rawValue: code))
        }
        self.ring = ring
        receivesInBundles = bundlesAllowed && ring.supportsReceiveBundles
        add(group)
    }

    /// A completion filled more than one buffer (a bundle).
    @inline(__always) func countBundle() { bundledCompletions &+= 1 }

    /// The group a receive being armed should name: the one with the most buffers free (the
    /// first on a tie); nil before the first group is registered or after `close`.
    @inline(__always) func groupForArming() -> ProvidedBufferRing? {
        if groups.count == 1 { return groups[0] }
        var best = 0
        var bestFree = Int.min
        for index in groups.indices {
            let free = groups[index].count - lentByGroup[index]
            if free > bestFree {
                best = index
                bestFree = free
            }
        }
        return groups.isEmpty ? nil : groups[best]
    }

    /// A completion delivered one of `group`'s buffers.
    @inline(__always) func lend(_ group: ProvidedBufferRing) {
        lentByGroup[Int(group.group) - 1] += 1
        lent += 1
        taken = true
    }

    /// Buffers posted in all groups (free, not held back).
    var postedCount: Int { groups.indices.reduce(0) { $0 + posted($1) } }

    /// How many of group `index`'s free buffers may be posted now.
    func window(ofGroup index: Int) -> Int { windows[index] }

    /// Buffers of group `index` in its ring (free, not held back).
    @inline(__always) func posted(_ index: Int) -> Int {
        groups[index].count - lentByGroup[index] - groups[index].held
    }

    /// Tops every group's posted buffers up to its window, the ones given back last first;
    /// called once per turn of the core's loop, before it enters the kernel.
    @inline(__always) func refill() {
        widenedThisTurn = false
        if taken { refillWindows() }
    }

    private func refillWindows() {
        taken = false
        for index in groups.indices {
            let posted = posted(index)
            let window = windows[index]
            peakUse[index] = max(peakUse[index], toppedUp[index] - posted)
            toppedUp[index] = posted < window ? posted + groups[index].postHeld(window - posted) : posted
        }
        turnsSinceDecay += 1
        guard turnsSinceDecay >= Self.decayTurns else { return }
        turnsSinceDecay = 0
        for index in groups.indices {
            // Never more than a quarter used in all those turns: half is still twice the need.
            if peakUse[index] * 4 <= windows[index], windows[index] > Self.initialWindow {
                windows[index] = max(Self.initialWindow, windows[index] / 2)
            }
            peakUse[index] = 0
        }
    }

    /// A receive found a ring empty (`ENOBUFS`): doubles the windows of the groups that hold
    /// buffers back and posts up to them now. A group holding none has every free buffer posted
    /// already; a wider window would not help this receive, only post buffers cold later (the
    /// pool at its limit, or most buffers on loan).
    private func widenWindows() {
        guard !widenedThisTurn else { return }
        widenedThisTurn = true
        for index in groups.indices where windows[index] < groups[index].count && groups[index].held > 0 {
            windows[index] = min(groups[index].count, windows[index] * 2)
            windowWidenings &+= 1
            let posted = posted(index)
            // What this turn took before counts too: the buffers posted now add to the top-up.
            if posted < windows[index] { toppedUp[index] += groups[index].postHeld(windows[index] - posted) }
        }
    }

    /// Gives buffer `id` of `group` back to the kernel, and wakes the first receive still
    /// waiting for one. After `close` (the core stopped) the buffer is simply dropped with its
    /// group.
    @inline(__always) func giveBack(_ group: ProvidedBufferRing, id: UInt16) {
        let index = Int(group.group) - 1
        guard index < groups.count, groups[index] === group else { return }
        // Posted at once while the window has room (it is the warmest buffer), else held.
        if posted(index) < windows[index] { group.recycle(id) } else { group.hold(id) }
        lentByGroup[index] -= 1
        lent -= 1
        while let waiter = waiters.popFirst() {
            if waiter() { return }
        }
    }

    /// Whether a receive the kernel starved (`ENOBUFS`) may be armed again now: a buffer is
    /// free in some group, or every one is on loan and a new group could be added. False at
    /// the limit: then wait for a buffer to come back (``waitForReturn(_:)``).
    func makeRoom() -> Bool {
        if groups.isEmpty { return true }
        widenWindows()
        if lent < capacity { return true }
        if grow() { return true }
        waits &+= 1
        if !reportedLimit {
            reportedLimit = true
            logger.warning(
                "core \(coreIndex): all \(capacity) provided receive buffers are on loan; receives wait for one to come back (RuntimeConfiguration.receiveBufferLimit is \(limit))",
                metadata: ["core": "\(coreIndex)", "buffers": "\(capacity)"])
        }
        return false
    }

    /// Calls `wake` when a buffer comes back.
    func waitForReturn(_ wake: @escaping () -> Bool) { waiters.append(wake) }

    /// Drops the groups (the core stopped). Buffers still on loan keep their group's memory
    /// alive until they are released.
    func close() {
        groups = []
        lentByGroup = []
        windows = []
        peakUse = []
        toppedUp = []
        lent = 0
        capacity = 0
        ring = nil
        waiters = RingBuffer()
    }

    /// Registers one more group, as large as all the groups so far (so growth takes a few
    /// steps, not one group per buffer), a power of two within the limit and the kernel's
    /// 32,768 per group.
    private func grow() -> Bool {
        guard let ring, !growthFailed, capacity < limit else { return false }
        var step = 1
        while step * 2 <= min(capacity, limit - capacity, 32768) { step *= 2 }
        guard groups.count < Int(UInt16.max) else { return false }
        var code: Int32 = 0
        guard
            let group = ProvidedBufferRing(
                ring: ring, group: Int32(groups.count + 1), count: step, size: bufferSize, posted: 0, error: &code)
        else {
            growthFailed = true
            logger.warning(
                "core \(coreIndex): could not add \(step) provided receive buffers (\(Errno(rawValue: code))); staying at \(capacity)",
                metadata: ["core": "\(coreIndex)", "buffers": "\(capacity)"])
            return false
        }
        add(group)
        growths &+= 1
        logger.notice(
            "core \(coreIndex): every provided receive buffer was on loan; added \(step), now \(capacity) of at most \(limit)",
            metadata: ["core": "\(coreIndex)", "buffers": "\(capacity)"])
        return true
    }

    private func add(_ group: ProvidedBufferRing) {
        groups.append(group)
        lentByGroup.append(0)
        // A new group holds every buffer; its first window is posted here, and only here.
        let window = min(group.count, Self.initialWindow)
        windows.append(window)
        peakUse.append(0)
        toppedUp.append(group.postHeld(window))
        capacity += group.count
    }
}
