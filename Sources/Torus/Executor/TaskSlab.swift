/// The tasks running on one core, so that shutdown can cancel them. Core-thread only.
///
/// A task registers itself when it first runs (on its core) and leaves when its body returns
/// (on the same core), so neither step needs a lock: a slot in an array and a free list.
struct TaskSlab {
    private var tasks: [UnsafeCurrentTask?] = []
    private var free: [Int] = []

    /// Tasks registered now.
    var count: Int { tasks.count - free.count }
    /// Tasks ever registered: spawned tasks that started on this core.
    private(set) var registered: UInt64 = 0

    mutating func insert(_ task: UnsafeCurrentTask) -> Int {
        registered &+= 1
        if let slot = free.popLast() {
            tasks[slot] = task
            return slot
        }
        tasks.append(task)
        return tasks.count - 1
    }

    mutating func remove(_ slot: Int) {
        tasks[slot] = nil
        free.append(slot)
    }

    /// Requests cancellation of every registered task.
    func cancelAll() {
        for task in tasks { task?.cancel() }
    }
}
