import Glibc
import Torus

/// Recreates the FIFO or device node `source` at `destination` (`mknodat` with the source's
/// type, permission bits and device number), as cp -R does; an existing entry there is replaced
/// unless `noClobber` (then nothing is done and false returned). A directory in the way is an
/// error.
func recreateSpecialFile(_ source: Place, at destination: Place, noClobber: Bool) throws -> Bool {
    var status = stat()
    if source.name.withPlatformString({ fstatat(source.directory.descriptor, $0, &status, AT_SYMLINK_NOFOLLOW) }) != 0 {
        throw IOError(operation: "stat", path: source.path, errno: Errno(rawValue: errno))
    }
    let mode = status.st_mode & (S_IFMT | 0o777) & ~umaskValue
    let make = { destination.name.withPlatformString { mknodat(destination.directory.descriptor, $0, mode, status.st_rdev) } }
    if make() == 0 { return true }
    guard errno == EEXIST else { throw IOError(operation: "mknod", path: destination.path, errno: Errno(rawValue: errno)) }
    if noClobber { return false }
    if destination.name.withPlatformString({ unlinkat(destination.directory.descriptor, $0, 0) }) != 0 {
        throw IOError(operation: "unlink", path: destination.path, errno: Errno(rawValue: errno))
    }
    if make() != 0 { throw IOError(operation: "mknod", path: destination.path, errno: Errno(rawValue: errno)) }
    return true
}
