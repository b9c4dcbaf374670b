internal import CUring

/// What the page cache holds of a file (cachestat(2), Linux 6.5).
public enum PageCache {
    /// The fraction (0...1) of `fd`'s bytes `[offset, offset + length)` that are in the page
    /// cache, or nil when the kernel cannot say (before 6.5, or not a regular file).
    public static func residentFraction(fd: Int32, offset: UInt64, length: UInt64) -> Double? {
        guard length > 0 else { return 1 }
        var cached: UInt64 = 0
        var total: UInt64 = 0
        guard torus_cachestat(fd, offset, length, &cached, &total) == 0, total > 0 else { return nil }
        return min(1, Double(cached) / Double(total))
    }
}
