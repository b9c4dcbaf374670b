/// A FIFO of suspended waiters, each with an id so that a cancelled waiter can be taken out of
/// the middle. Used under the owning primitive's lock.
@usableFromInline struct WaiterQueue<Waiter> {
    @usableFromInline var entries: [(id: UInt64, waiter: Waiter)] = []
    @usableFromInline var head = 0
    @usableFromInline var nextID: UInt64 = 0

    @inlinable var isEmpty: Bool { head == entries.count }
    @inlinable var count: Int { entries.count - head }

    /// Appends a waiter and returns its id.
    @inlinable mutating func append(_ waiter: Waiter) -> UInt64 {
        nextID &+= 1
        entries.append((nextID, waiter))
        return nextID
    }

    /// The oldest waiter, without removing it.
    @inlinable var first: Waiter? { isEmpty ? nil : entries[head].waiter }

    /// Removes and returns the oldest waiter.
    @inlinable mutating func removeFirst() -> Waiter? {
        guard !isEmpty else { return nil }
        let waiter = entries[head].waiter
        head += 1
        compact()
        return waiter
    }

    /// Removes the waiter with `id`, if it is still queued (not already woken).
    @inlinable mutating func remove(id: UInt64) -> Waiter? {
        guard let index = entries[head...].firstIndex(where: { $0.id == id }) else { return nil }
        let waiter = entries.remove(at: index).waiter
        return waiter
    }

    /// Removes and returns every waiter, oldest first.
    @inlinable mutating func removeAll() -> [Waiter] {
        let all = entries[head...].map(\.waiter)
        entries.removeAll(keepingCapacity: true)
        head = 0
        return all
    }

    @inlinable mutating func compact() {
        if head == entries.count {
            entries.removeAll(keepingCapacity: true)
            head = 0
        } else if head > 32 && head * 2 > entries.count {
            entries.removeFirst(head)
            head = 0
        }
    }
}

/// A plain thread blocked in a `blocking…` call of a channel, waiting for its turn.
@usableFromInline final class ThreadParker<Value: Sendable>: @unchecked Sendable {
    // @unchecked: `slot` is only read and written with `lock` held.
    @usableFromInline let lock = ConditionLock<Value?>(nil)
    @inlinable init() {}

    @inlinable func unpark(with value: Value) {
        lock.withLockBroadcasting { $0 = value }
    }

    @inlinable func park() -> Value {
        lock.wait { $0 }!
    }
}

/// A suspended task or a parked thread, resumed with a value; or a ``select(biased:_:otherwise:isolation:)``
/// watching for readiness, which is only signalled (it takes nothing: the select then takes the
/// value itself, from the one branch it chooses).
@usableFromInline enum Resumable<Value: Sendable> {
    case task(UnsafeContinuation<Value, Never>)
    case thread(ThreadParker<Value>)
    case select(SelectSignal)

    @inlinable func resume(_ value: Value) {
        switch self {
        case .task(let continuation): continuation.resume(returning: value)
        case .thread(let parker): parker.unpark(with: value)
        case .select(let signal): signal.fire()
        }
    }
}
