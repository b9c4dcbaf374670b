internal import CUring
import SystemPackage

/// `renameat2(2)` as a plain system call on the calling thread (`RENAME_NOREPLACE` when
/// `noReplace`), relative to the working directory. Swift's Glibc module does not import it.
public func renameNow(_ from: String, to: String, noReplace: Bool) throws(Errno) {
    _ = try retryingInterrupted { Int(torus_renameat2(from, to, noReplace ? UInt32(TORUS_RENAME_NOREPLACE) : 0)) }
}
