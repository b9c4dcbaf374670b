import Glibc
import SystemPackage
import TorusRing

extension File {
    /// Copies up to `length` bytes from this file at `sourceOffset` into `destination` at
    /// `destinationOffset` with `copy_file_range(2)`: the kernel moves the data page cache to
    /// page cache (one copy instead of a read and a write; a clone where the file system shares
    /// extents). io_uring has no such operation, so by default the call runs on the blocking
    /// pool and the core stays free.
    ///
    /// - Parameters:
    ///   - destination: the file to copy into.
    ///   - sourceOffset: where in this file the copy starts.
    ///   - destinationOffset: where in `destination` the first byte goes.
    ///   - length: the most bytes to copy; the count returned may be smaller.
    ///   - route: `.inline` makes the call on the calling thread instead, which saves two thread
    ///     hand-offs when the source is in the page cache (``File/cachedFraction(of:)``) and the
    ///     range is small; on uncached data it would hold the core while the disk reads.
    ///
    /// Cancel safety: not interruptible (`copy_file_range` is not a ring operation): the copy
    /// finishes on the pool, or on the calling thread with `.inline`, and its count is returned
    /// even to a cancelled task, so the caller always knows how far it got. With `.inline`, a
    /// task already cancelled does not start it.
    /// - Returns: bytes copied; 0 at the end of the source.
    /// - Throws: ``IOError`` naming `copy_file_range` and this file's path: in particular
    ///   `EXDEV`, `EINVAL` or `EOPNOTSUPP` where the two files cannot be copied this way (then
    ///   read and write instead).
    public func copyRange(
        to destination: File, from sourceOffset: UInt64, to destinationOffset: UInt64, length: Int, via route: FileOperationRoute = .ring
    ) async throws -> Int {
        // Both held until the copy returns, on the pool too: a close meanwhile waits for it.
        let input = try borrowDescriptor(for: "copy_file_range")
        defer { sharedDescriptor.giveBack() }
        let output = try destination.borrowDescriptor(for: "copy_file_range")
        defer { destination.sharedDescriptor.giveBack() }
        let path = self.path
        if route == .inline {
            return try inlineCall("copy_file_range", path: path) { () throws(Errno) in
                try copyFileRange(from: input, at: sourceOffset, to: output, at: destinationOffset, length: length)
            }
        }
        return try await spawnBlocking {
            try reportingIOError("copy_file_range", path: path) { () throws(Errno) in
                try copyFileRange(from: input, at: sourceOffset, to: output, at: destinationOffset, length: length)
            }
        }
    }
}
