import Glibc
import Torus

/// Recreates the FIFO or device node `source` at `destination` (`mknodat` with the source's
/// type, permission bits and device number), as cp -R does; an existing entry there is replaced
/// unless `noClobber` (then nothing is done and false returned). A directory in the way is an
/// error.
func recreateSpecialFile(_ source: Place, at destination: Place, noClobber: Bool) throws -> Bool {
    var status = stat()
    _ = try source.name.withPlatformString { name in
        try systemCall("stat", path: source.path) { fstatat(source.directory.descriptor, name, &status, AT_SYMLINK_NOFOLLOW) }
    }
    let mode = status.st_mode & (S_IFMT | 0o777) & ~umaskValue
    let device = status.st_rdev
    let make = {
        _ = try destination.name.withPlatformString { name in
            try systemCall("mknod", path: destination.path) { mknodat(destination.directory.descriptor, name, mode, device) }
        }
    }
    do {
        try make()
        return true
    } catch let error as IOError where error.errno == .fileExists {
        if noClobber { return false }
    }
    _ = try destination.name.withPlatformString { name in
        try systemCall("unlink", path: destination.path) { unlinkat(destination.directory.descriptor, name, 0) }
    }
    try make()
    return true
}
