/// A growable FIFO buffer (amortised O(1) at both ends), for channel queues.
@usableFromInline package struct RingBuffer<Element> {
    @usableFromInline package var storage: [Element?]
    @usableFromInline package var head = 0
    @usableFromInline package var count = 0

    @inlinable package init(capacity: Int = 16) {
        storage = Array(repeating: nil, count: max(1, capacity))
    }

    @inlinable package var isEmpty: Bool { count == 0 }

    @inlinable package mutating func append(_ element: Element) {
        if count == storage.count { grow() }
        storage[(head + count) % storage.count] = element
        count += 1
    }

    @inlinable package mutating func popFirst() -> Element? {
        guard count > 0 else { return nil }
        let element = storage[head].take()
        head = (head + 1) % storage.count
        count -= 1
        return element
    }

    /// Removes every element, oldest first.
    @inlinable package mutating func removeAll() -> [Element] {
        var all: [Element] = []
        all.reserveCapacity(count)
        while let element = popFirst() { all.append(element) }
        return all
    }

    @inlinable package mutating func grow() {
        var bigger = [Element?](repeating: nil, count: storage.count * 2)
        for index in 0..<count { bigger[index] = storage[(head + index) % storage.count].take() }
        storage = bigger
        head = 0
    }
}
