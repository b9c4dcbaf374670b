import Synchronization
import Torus

/// Copy buffers, reused from file to file. Allocating a fresh buffer for each of thousands of
/// small files made malloc grow and shrink its heaps (mprotect, munmap), and every such change
/// takes the process's memory-map lock for writing, which stalled the other cores' page faults:
/// the two cores spent a third of a 20,000-file copy asleep on that lock. Reused buffers are
/// faulted in once. At most `limit` idle buffers are kept, so memory stays bounded by the
/// number of copies in flight.
final class BufferPool: @unchecked Sendable {
    // @unchecked: `idle` is only touched under `lock`; a buffer that is taken belongs to one task
    // until it is given back.
    private let lock = Mutex(())
    private var idle: [IOBuffer] = []
    let capacity: Int
    let alignment: Int
    let limit: Int

    init(capacity: Int, alignment: Int, limit: Int) {
        self.capacity = capacity
        self.alignment = alignment
        self.limit = limit
    }

    /// Runs `body` with an empty buffer of `capacity` bytes, then keeps the buffer for reuse.
    func withBuffer<R>(_ body: (IOBuffer) async throws -> R) async rethrows -> R {
        let buffer = lock.withLock { _ in idle.popLast() } ?? IOBuffer(capacity: capacity, alignment: alignment)
        defer {
            buffer.clear()
            lock.withLock { _ in if idle.count < limit { idle.append(buffer) } }
        }
        return try await body(buffer)
    }
}
