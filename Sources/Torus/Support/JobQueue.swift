/// A growable ring buffer of jobs, touched by one thread only: the core's local run queue, and
/// the driver's list of timer jobs that fired (which the core moves to its run queue).
///
/// No atomics and no locks: every job enqueued from the core's own thread (the common case: a
/// completion resumed a continuation, a task spawned a sibling) lands here directly.
struct JobQueue: ~Copyable {
    private var storage: UnsafeMutablePointer<UnownedJob>
    private var capacity: Int
    private var head = 0
    private(set) var count = 0

    init(initialCapacity: Int = 1024) {
        precondition(initialCapacity > 0 && initialCapacity & (initialCapacity - 1) == 0)
        capacity = initialCapacity
        storage = .allocate(capacity: initialCapacity)
    }

    deinit { storage.deallocate() }

    var isEmpty: Bool { count == 0 }

    mutating func push(_ job: UnownedJob) {
        if count == capacity { grow() }
        (storage + ((head + count) & (capacity - 1))).initialize(to: job)
        count += 1
    }

    mutating func pop() -> UnownedJob? {
        guard count > 0 else { return nil }
        let job = (storage + head).move()
        head = (head + 1) & (capacity - 1)
        count -= 1
        return job
    }

    private mutating func grow() {
        let bigger = UnsafeMutablePointer<UnownedJob>.allocate(capacity: capacity * 2)
        for index in 0..<count {
            (bigger + index).initialize(to: (storage + ((head + index) & (capacity - 1))).move())
        }
        storage.deallocate()
        storage = bigger
        capacity *= 2
        head = 0
    }
}
