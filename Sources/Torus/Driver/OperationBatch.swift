import Glibc

/// Several operations that one task awaits with a single suspension: each member's completion
/// records its result, and the last one resumes the task.
///
/// The per-operation cost a batch saves is the Swift runtime's, not the kernel's: a task that
/// awaits one read at a time pays a continuation, a suspension and a resumption (with the
/// executor-preference lookups and task-allocator traffic they bring) for every read; a batch
/// pays them once. Core-thread only, like the driver that completes its members.
final class OperationBatch {
    // Unchecked exclusivity: only the core's thread touches a batch, one access at a time, and
    // the dynamic checks (a thread-local access set per access) cost more than the rest of a
    // member's bookkeeping.
    /// Each member's CQE result, in submission order (`-ECANCELED` until it completes).
    @exclusivity(unchecked) private(set) var results: [Int32]
    @exclusivity(unchecked) private var remaining: Int
    @exclusivity(unchecked) private var continuation: UnsafeContinuation<[Int32], Never>?
    // SAFETY: `keepAlive` owns the memory every member's operation may read or write (the
    // buffers of a batched read). The awaiting task holds the batch until it is resumed, which
    // happens only after the last member's final completion, so the memory outlives every
    // operation without a retain per member.
    private let keepAlive: Any?

    init(count: Int, keepAlive: Any?) {
        results = Array(repeating: -ECANCELED, count: count)
        remaining = count
        self.keepAlive = keepAlive
    }

    /// Arms the batch with the task to resume once every member has finished.
    func wait(with continuation: UnsafeContinuation<[Int32], Never>) {
        precondition(self.continuation == nil, "an operation batch is awaited once")
        self.continuation = continuation
        if remaining == 0 { resume() }
    }

    /// Records member `index`'s final result; the last one resumes the waiting task.
    func finish(_ index: Int, result: Int32) {
        results[index] = result
        remaining -= 1
        if remaining == 0, continuation != nil { resume() }
    }

    private func resume() {
        let continuation = self.continuation!
        self.continuation = nil
        continuation.resume(returning: results)
    }
}
