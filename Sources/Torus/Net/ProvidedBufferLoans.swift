/// The core's provided buffers out on loan (delivered by a completion, not yet given back),
/// and the receives waiting for one to come back after the kernel found none (`ENOBUFS`).
///
/// A starved receive is armed again when a buffer returns, not on a timer: no polling while
/// the pool is empty, and the waiters are served in turn. Core-thread only.
final class ProvidedBufferLoans {
    /// Buffers delivered and not yet recycled.
    private(set) var lent = 0
    /// Receives waiting for a buffer; each returns false if it no longer waits (cancelled or
    /// gone), and the buffer is offered to the next.
    private var waiters = RingBuffer<() -> Bool>()

    /// A completion delivered a buffer.
    @inline(__always) func lend() { lent += 1 }

    /// A buffer went back to the kernel: wake the first receive still waiting for one.
    @inline(__always) func returned() {
        lent -= 1
        while let waiter = waiters.popFirst() {
            if waiter() { return }
        }
    }

    /// Whether some of the pool's `capacity` buffers are not lent out.
    func hasFree(capacity: Int) -> Bool { lent < capacity }

    /// Calls `wake` when a buffer comes back.
    func waitForReturn(_ wake: @escaping () -> Bool) { waiters.append(wake) }
}
