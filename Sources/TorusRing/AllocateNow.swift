internal import CUring
import SystemPackage

/// `fallocate(2)` (mode 0) as a plain system call on the calling thread: allocates
/// `[offset, offset + length)` of `fd` and extends its size to cover it.
public func allocateNow(fd: Int32, offset: UInt64, length: UInt64) throws(Errno) {
    _ = try retryingInterrupted { Int(torus_fallocate(fd, offset, length)) }
}
