internal import CUring
import Glibc
import SystemPackage

/// `renameat2(2)` as a plain system call on the calling thread (`RENAME_NOREPLACE` when
/// `noReplace`), relative to the working directory. Swift's Glibc module does not import it.
public func renameNow(_ from: String, to: String, noReplace: Bool) throws(Errno) {
    while true {
        let result = torus_renameat2(from, to, noReplace ? UInt32(TORUS_RENAME_NOREPLACE) : 0)
        if result == 0 { return }
        if result == -EINTR { continue }
        throw Errno(rawValue: -result)
    }
}
