internal import CUring
import SystemPackage

/// `copy_file_range(2)`: the kernel copies between two files without the data passing through
/// user space (one copy, page cache to page cache; a clone on file systems that share extents).
/// io_uring has no operation for it, so it is a plain, blocking system call: Torus's
/// `File.copyRange` runs it on the blocking pool, or on the core when asked to (`.inline`).
///
/// - Returns: bytes copied (0 at the end of the source).
/// - Throws: `Errno`; `.improperLink` (EXDEV) across file systems where the kernel refuses,
///   `.invalidArgument` or `.notSupported` where the file systems cannot do it.
public func copyFileRange(from input: Int32, at inputOffset: UInt64, to output: Int32, at outputOffset: UInt64, length: Int) throws(Errno) -> Int {
    try retryingInterrupted { torus_copy_file_range(input, Int64(inputOffset), output, Int64(outputOffset), UInt64(length)) }
}
