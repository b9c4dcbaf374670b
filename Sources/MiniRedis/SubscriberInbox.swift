import Synchronization
import Torus

/// Everything a subscriber connection is sent, from publishers on any core and from its own
/// command loop, in order: one queue per connection whatever the number of channels.
///
/// Publishers never wait: a delivery is queued (the encoded frame is shared, not copied) and
/// counted against the connection's ``OutputBufferLimit``; a connection over it is marked and
/// its session told to disconnect it, as redis does with a subscriber that stopped reading.
final class SubscriberInbox: Sendable {
    private let sender: MPSC.Sender<[UInt8]>
    let deliveries: MPSC.Receiver<[UInt8]>
    private let limit: OutputBufferLimit
    /// Bytes queued and not yet written to the socket.
    private let pending = Atomic<Int>(0)
    /// When `pending` went over the soft limit (nanoseconds on the continuous clock; 0: it is
    /// not over).
    private let overSoftSince = Atomic<Int64>(0)
    private let exceeded = Atomic<Bool>(false)
    /// Wakes the session's watch when the limit is exceeded.
    let overLimit = Notify()

    init(limit: OutputBufferLimit) {
        (sender, deliveries) = MPSC.unbounded([UInt8].self)
        self.limit = limit
    }

    /// Queues `frame` (already encoded) without waiting; false if the connection is leaving
    /// subscriber mode or was disconnected for exceeding its limit.
    @discardableResult
    func deliver(_ frame: [UInt8]) -> Bool {
        guard !exceeded.load(ordering: .relaxed) else { return false }
        do {
            try sender.trySend(frame)
        } catch {
            return false
        }
        let total = pending.add(frame.count, ordering: .relaxed).newValue
        if isOverLimit(total), !exceeded.exchange(true, ordering: .relaxed) { overLimit.notifyOne() }
        return true
    }

    /// The session wrote `count` bytes of deliveries to the socket.
    func written(_ count: Int) {
        let total = pending.subtract(count, ordering: .relaxed).newValue
        if limit.soft > 0 && total <= limit.soft { overSoftSince.store(0, ordering: .relaxed) }
    }

    /// Bytes queued and not yet written.
    var pendingBytes: Int { pending.load(ordering: .relaxed) }

    /// No more deliveries: the writer ends once it has written what is queued.
    func finish() { sender.finish() }

    private func isOverLimit(_ total: Int) -> Bool {
        if limit.hard > 0 && total > limit.hard { return true }
        guard limit.soft > 0 && total > limit.soft else { return false }
        let now = Self.nanosecondsNow()
        let (exchanged, since) = overSoftSince.compareExchange(expected: 0, desired: now, ordering: .relaxed)
        if exchanged { return limit.softSeconds == 0 }
        return now - since >= Int64(limit.softSeconds) * 1_000_000_000
    }

    private static func nanosecondsNow() -> Int64 {
        let elapsed = ContinuousClock.now - ContinuousClock.Instant.zeroReference
        return max(1, elapsed.components.seconds * 1_000_000_000 + elapsed.components.attoseconds / 1_000_000_000)
    }
}

extension ContinuousClock.Instant {
    /// A fixed instant to measure from (the clock's epoch is unspecified but fixed per boot).
    fileprivate static let zeroReference = ContinuousClock.now
}
