import Synchronization

/// A message another thread leaves for a core.
enum MailboxItem {
    /// A task job to run on the core.
    case job(UnownedJob)
    /// A closure to run on the core (``Core/execute(_:)``).
    case closure(@Sendable () -> Void)
    /// Cancel the ring operation with this id (a task was cancelled from another thread).
    case cancel(OperationID)
    /// Arm a timer that enqueues `job` after `nanoseconds` (a `Task.sleep` from another thread).
    case timer(UnownedJob, nanoseconds: Int64)
    /// Begin stopping: cancel everything in flight, drain, then leave the loop.
    case stop
}

/// The cross-thread inbox of a core: a lock-free multi-producer, single-consumer stack.
///
/// Producers push with one compare-and-swap. The core takes the whole list with one `exchange`
/// and reverses it, so a batch of N messages costs the consumer one atomic operation and the
/// messages of each producer keep their order. When the core is gone the head is swapped for a
/// `closed` sentinel: a push that finds it reports failure instead of being lost.
final class Mailbox: @unchecked Sendable {
    // @unchecked: nodes are raw pointers handed between threads; ownership passes through the
    // atomic head (release on push, acquire on take), so each node has exactly one owner.
    struct Node {
        var next: UnsafeMutablePointer<Node>?
        var item: MailboxItem
    }

    private let head = Atomic<UInt>(0)
    private static let closedMarker: UInt = 1

    /// Pushes `item`. Returns `false` (and drops nothing: the caller still owns `item`) when the
    /// mailbox was closed.
    func push(_ item: MailboxItem) -> Bool {
        let node = UnsafeMutablePointer<Node>.allocate(capacity: 1)
        node.initialize(to: Node(next: nil, item: item))
        var current = head.load(ordering: .relaxed)
        while true {
            if current == Mailbox.closedMarker {
                node.deinitialize(count: 1)
                node.deallocate()
                return false
            }
            node.pointee.next = UnsafeMutablePointer(bitPattern: current)
            let (exchanged, original) = head.compareExchange(
                expected: current, desired: UInt(bitPattern: node),
                successOrdering: .sequentiallyConsistent, failureOrdering: .relaxed)
            if exchanged { return true }
            current = original
        }
    }

    /// Whether anything is waiting (a sequentially consistent load: part of the park handshake).
    var isEmpty: Bool {
        let value = head.load(ordering: .sequentiallyConsistent)
        return value == 0 || value == Mailbox.closedMarker
    }

    /// Takes every message, oldest first per producer, and hands each to `body`.
    /// Returns how many there were.
    @discardableResult
    func drain(_ body: (MailboxItem) -> Void) -> Int {
        take(replacingWith: 0, body)
    }

    /// Closes the mailbox and hands what was left in it to `body`.
    func close(_ body: (MailboxItem) -> Void) {
        take(replacingWith: Mailbox.closedMarker, body)
    }

    @discardableResult
    private func take(replacingWith replacement: UInt, _ body: (MailboxItem) -> Void) -> Int {
        if head.load(ordering: .relaxed) == 0 && replacement == 0 { return 0 }
        let taken = head.exchange(replacement, ordering: .acquiring)
        guard taken != Mailbox.closedMarker, var node = UnsafeMutablePointer<Node>(bitPattern: taken) else { return 0 }
        // Reverse the LIFO stack into arrival order.
        var reversed: UnsafeMutablePointer<Node>? = nil
        while true {
            let next = node.pointee.next
            node.pointee.next = reversed
            reversed = node
            guard let following = next else { break }
            node = following
        }
        var count = 0
        while let current = reversed {
            reversed = current.pointee.next
            let item = current.move().item
            current.deallocate()
            body(item)
            count += 1
        }
        return count
    }

    deinit {
        take(replacingWith: Mailbox.closedMarker) { _ in }
    }
}
