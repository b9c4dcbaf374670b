import Glibc
import Torus

/// The owner, mode and times a finished copy (a file or a directory) is given, through its
/// descriptor, as GNU cp gives them:
/// - without -p, a new file gets the source's permission bits as creating it with them would
///   (less the umask, or as the destination directory's default ACL allows), never
///   setuid/setgid (a directory keeps the sticky bit, and the setgid bit its parent gave it); an
///   existing destination replaced by a copy keeps its own mode and owner;
/// - with -p (each of --preserve=mode,ownership,timestamps on its own), the source's owner, mode
///   (setuid/setgid only with the owner, and only if it could be kept: an unprivileged user's
///   `fchown` to another owner fails, silently as in cp) and times.
struct FinalAttributes {
    var owner: (user: uid_t, group: gid_t)?
    var mode: mode_t
    var times: [timespec]?
    /// The mode is the source's (-p): set whatever the file was created with.
    var modePreserved: Bool
    /// A new copy without -p: the source's permission bits, to be filtered as the kernel
    /// filtered the creation mode (see ``apply(to:path:createdWith:afterOwner:)``), and the
    /// bits cp leaves out at creation and adds back less the umask: group and other write for a
    /// directory, all group and other bits when the owner is preserved.
    var newCopyOf: (bits: mode_t, directory: Bool, omitted: mode_t)?

    /// For a copy of `source`; `existing` is the destination it replaces, whose mode and owner
    /// are kept where they are not preserved from the source.
    init(copyOf source: FileMetadata, replacing existing: FileMetadata? = nil, preserved: Preserved) {
        let bits = source.permissions.rawValue
        modePreserved = preserved.contains(.mode)
        if preserved.contains(.ownership) {
            owner = (source.ownerID, source.groupID)
        } else if let existing {
            owner = (existing.ownerID, existing.groupID)
        }
        if preserved.contains(.mode) {
            // setuid/setgid only for the owner they were set for.
            mode = bits & (preserved.contains(.ownership) ? 0o7777 : 0o1777)
        } else if let existing {
            // Only root may keep setuid/setgid on a file it rewrites (writing clears them otherwise).
            mode = existing.permissions.rawValue & (geteuid() == 0 ? 0o7777 : 0o1777)
        } else {
            mode = bits & (source.isDirectory ? 0o1777 : 0o777) & ~umaskValue
            newCopyOf = (bits, source.isDirectory, preserved.contains(.ownership) ? 0o077 : source.isDirectory ? 0o022 : 0)
        }
        if preserved.contains(.timestamps) { times = timestamps(source) }
    }

    /// Applies them to the open `fd` of `path`: the owner first (changing it clears
    /// setuid/setgid), then the mode, then the times. `createdWith` is the mode the file or
    /// directory was created with (after the umask): a mode that is already right is not set
    /// again. Every failure names the call and the path, except an unprivileged `fchown` refused,
    /// which only drops setuid/setgid as cp does.
    /// - Parameter afterOwner: runs between the owner and the mode: the extended attributes go
    ///   there, as in cp, because a change of owner removes `security.capability` and a final
    ///   mode without owner-write would stop an unprivileged owner from setting `user.` ones.
    func apply(to fd: Int32, path: FilePath, createdWith: mode_t?, afterOwner: () -> Void = {}) throws {
        var mode = self.mode
        // A new copy was created with more than the source's bits (owner-write for a file,
        // owner rwx for a directory, to fill it) and the kernel filtered them through the umask
        // or the directory's default ACL. cp creates it with the source's bits less `omitted`,
        // filtered the same way, then adds `omitted` back less the umask; the filter keeps or
        // drops each bit, so applying it to more bits and masking after gives the same. (With the
        // umask alone, this is `mode`.) A directory keeps the setgid bit its parent gave it.
        var created: mode_t?
        if let (bits, directory, omitted) = newCopyOf, createdWith == nil || mode != createdWith || omitted != 0 {
            var status = stat()
            _ = try systemCall("fstat", path: path) { fstat(fd, &status) }
            let actual = status.st_mode & 0o7777
            created = actual
            mode =
                actual & bits & 0o777 & ~omitted | bits & omitted & ~umaskValue
                | (directory ? actual & mode_t(S_ISGID) | bits & mode_t(S_ISVTX) : 0)
        }
        var ownerChanged = false
        if let owner, owner.user != geteuid() || owner.group != getegid() {
            do {
                _ = try systemCall("fchown", path: path) { fchown(fd, owner.user, owner.group) }
                ownerChanged = true
            } catch {
                // As cp: a non-root copy keeps its own owner, and loses the set-id and sticky
                // bits with it (copy.c: `~(S_ISUID | S_ISGID | S_ISVTX)`).
                guard error.errno == .notPermitted, geteuid() != 0 else { throw error }
                mode &= ~mode_t(S_ISUID | S_ISGID | S_ISVTX)
            }
        }
        afterOwner()
        // A preserved mode is always set: the file was created with the umask, or with a
        // destination directory's default ACL, and an ACL copied before changed its group bits.
        if mode != (created ?? createdWith) || ownerChanged || modePreserved {
            _ = try systemCall("fchmod", path: path) { fchmod(fd, mode) }
        }
        if var times {
            _ = try systemCall("futimens", path: path) { futimens(fd, &times) }
        }
    }
}

/// The source's access and modification times, as `futimens` and `utimensat` take them (-p).
func timestamps(_ metadata: FileMetadata) -> [timespec] {
    [
        timespec(tv_sec: Int(metadata.accessed.seconds), tv_nsec: Int(metadata.accessed.nanoseconds)),
        timespec(tv_sec: Int(metadata.modified.seconds), tv_nsec: Int(metadata.modified.nanoseconds)),
    ]
}

/// The mode a file copy is created with (before the umask): the source's permission bits, plus
/// owner-write so that it can be written; never setuid/setgid before the owner is right.
func creationMode(_ metadata: FileMetadata) -> mode_t { metadata.permissions.rawValue & 0o777 | 0o200 }

/// The process umask (read once: setting it is the only way to read it).
let umaskValue: mode_t = {
    let value = umask(0o022)
    umask(value)
    return value
}()
