import Glibc
import TorusChannels
import TorusRing

/// Suspends the task for `duration`, served by an `IORING_OP_TIMEOUT` on the caller's core.
///
/// Off a Torus core it falls back to `Task.sleep(for:)`.
///
/// Cancel safety: nothing to lose. Cancellation, or the deadline of an enclosing
/// ``withTimeout(_:isolation:_:)`` scope, cancels the timer in the kernel at once: the call
/// throws `CancellationError` promptly and leaves no operation behind on the ring. (Off a core,
/// `Task.sleep` does not see a deadline.)
/// - Throws: `CancellationError` if the task is cancelled first (the timer is cancelled in
///   the kernel).
public func sleep(for duration: Duration) async throws {
    guard let core = Core.current else {
        try await Task.sleep(for: duration)
        return
    }
    let nanoseconds = duration.clampedNanoseconds
    let result = await core.submitAndAwait { entry, id in
        let timespec = core.driver.operations.timespecPointer(for: id)
        timespec.pointee = KernelTimespec(
            seconds: Int64(nanoseconds / 1_000_000_000), nanoseconds: Int64(nanoseconds % 1_000_000_000))
        entry.prepareTimeout(timespec)
    }
    switch result {
    case -ETIME, 0: return
    case -ECANCELED: throw CancellationError()
    default: preconditionFailure("IORING_OP_TIMEOUT completed with unexpected result \(result)")
    }
}

/// Suspends the task until `deadline`.
///
/// Cancel safety: as ``sleep(for:)``: the timer is cancelled in the kernel at once.
/// - Throws: `CancellationError` if the task is cancelled first.
public func sleep(until deadline: ContinuousClock.Instant) async throws {
    try await sleep(for: ContinuousClock.now.duration(to: deadline))
}
