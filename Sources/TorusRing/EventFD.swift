internal import CUring
import Glibc

/// A non-blocking `eventfd`: how a thread that owns no ring rings a core's doorbell.
///
/// The core keeps an `IORING_OP_READ` of 8 bytes outstanding on it; a `write` of 1 from any
/// thread completes that read and wakes the core out of `io_uring_enter`. The fd is closed when
/// the object is released.
public final class EventFD: Sendable {
    public let fd: Int32

    /// Creates the eventfd (`EFD_CLOEXEC | EFD_NONBLOCK`), or returns `nil` with `errno` set.
    public init?() {
        let fd = torus_eventfd_create()
        if fd < 0 { return nil }
        self.fd = fd
    }

    /// Adds one to the counter, waking a pending read. Safe from any thread.
    public func signal() {
        var one: UInt64 = 1
        while true {
            let written = write(fd, &one, 8)
            // EAGAIN means the counter is saturated: a wake-up is already pending.
            if written == 8 || errno != EINTR { return }
        }
    }

    deinit { close(fd) }
}
