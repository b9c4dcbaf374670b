import TorusRing

/// Names one in-flight ring operation: a slot index plus a generation, so that a late cancel
/// for a slot that has since been reused is recognised and ignored.
struct OperationID: Hashable, Sendable {
    var index: UInt32
    var generation: UInt32

    /// The `user_data` the SQE carries. Generations stay below 2^31, so these never collide with
    /// the reserved tags (all of which have the top bit set).
    var userData: UInt64 { UInt64(generation) << 32 | UInt64(index) }

    init(index: UInt32, generation: UInt32) {
        self.index = index
        self.generation = generation
    }

    init(userData: UInt64) {
        index = UInt32(truncatingIfNeeded: userData)
        generation = UInt32(truncatingIfNeeded: userData >> 32)
    }
}

/// `user_data` values that are not operations.
enum ReservedUserData {
    /// The read outstanding on the driver's eventfd (foreign-thread wake-ups).
    static let doorbell: UInt64 = .max
    /// A `MSG_RING` wake-up from another core.
    static let wake: UInt64 = .max - 1
    /// The completion of an `ASYNC_CANCEL` request (its outcome shows on the target instead).
    static let cancelRequest: UInt64 = .max - 2
    /// Completions nobody waits for (close of an fd whose owner was dropped, and the like).
    static let ignored: UInt64 = .max - 3
}

/// Who is told when an operation completes.
enum OperationWaiter {
    /// Nothing yet: the slot is reserved but not submitted.
    case none
    /// A suspended task, resumed with the CQE result.
    case continuation(UnsafeContinuation<Int32, Never>)
    /// A job to hand to the executor when the CQE arrives (timers behind `Task.sleep`).
    case job(UnownedJob)
    /// A callback for each CQE (multishot operations post several).
    case handler((Completion) -> Void)
    /// Member `index` of a batch one task awaits as a whole (``OperationBatch``). Unretained:
    /// the awaiting task holds the batch until every member has finished (see
    /// `Core.submitBatchAndAwait`), which saves two atomic operations per member.
    case batchMember(Unmanaged<OperationBatch>, index: Int)
}
