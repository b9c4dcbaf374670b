import Glibc
import Synchronization
import Torus

/// A new file's copy written as an unnamed file (`O_TMPFILE`) and given its name only once it
/// is complete (`linkat`): a half-written copy never has a name, so nothing can see it, and a
/// copy killed outright (SIGKILL, a crash, power loss) leaves no temporary file behind; the
/// kernel frees it with the last descriptor. Against a temporary name renamed into place it
/// also saves a directory entry's creation and removal per file (CPU per file measured in C on
/// a journaled ext4: 35-37 us against 38-39 us).
///
/// Used for new files only: replacing an existing file atomically still takes a rename. A
/// name that appears while the copy runs is never replaced (cp creates new files with
/// `O_EXCL` too).
/// File systems without `O_TMPFILE` (NFS, FUSE, older ones) get the temporary name.
enum UnnamedFile {
    /// Set once a file system refused `O_TMPFILE`: every later file goes the named way at once
    /// instead of paying a failed system call each.
    private static let refused = Atomic<Bool>(false)

    /// Whether an unnamed file can be given a name by this process: with `AT_EMPTY_PATH`
    /// (root: `CAP_DAC_READ_SEARCH`) or through `/proc/self/fd`.
    private static let canLink: Bool = geteuid() == 0 || access("/proc/self/fd", X_OK) == 0

    /// Opens an unnamed file for writing in `directory`, or nil where unnamed files cannot be
    /// used (then the caller creates a named temporary file). Its ``File/path`` is `path`, the
    /// destination's, which errors name.
    static func create(in directory: OpenDirectory, permissions: mode_t, options: File.Options, path: FilePath) async throws -> File? {
        guard canLink, !refused.load(ordering: .relaxed) else { return nil }
        let file: File
        do {
            let fd = try systemCall("open", path: path) { openat(directory.descriptor, ".", openUnnamedFlag | O_WRONLY | O_CLOEXEC, permissions) }
            file = try File(adopting: FileDescriptor(rawValue: fd), path: path)
        } catch let error as IOError where [.notSupported, .isDirectory, .invalidArgument].contains(error.errno) {
            // No O_TMPFILE on this file system (EOPNOTSUPP; EISDIR or EINVAL from kernels and
            // file systems that predate it).
            refused.store(true, ordering: .relaxed)
            return nil
        }
        if options.contains(.direct) {
            do {
                try file.setDirect(true)
            } catch {
                // EINVAL: the caller's fallback opens again without O_DIRECT.
                try? await file.close(via: .inline)
                throw error
            }
        }
        return file
    }

    /// Gives the complete unnamed `file` its name, `destination`; false if the name was taken
    /// since the copy decided to create it and `noClobber` (-n) says to leave it. Without -n a
    /// name taken meanwhile (another program made it) fails as cp's exclusive create does:
    /// "cannot create regular file: File exists"; the other program's file is left alone.
    static func publish(_ file: File, as destination: Place, noClobber: Bool) throws -> Bool {
        do {
            try link(file.descriptor.rawValue, as: destination.name, in: destination.directory, path: destination.path)
            return true
        } catch let error as IOError where error.errno == .fileExists {
            if noClobber { return false }
            throw IOError(operation: "open", path: destination.path, errno: .fileExists)
        }
    }

    /// `linkat` of the descriptor to `name`: with `AT_EMPTY_PATH` as root, else (or where root
    /// is refused it) through `/proc/self/fd` (`AT_EMPTY_PATH` needs `CAP_DAC_READ_SEARCH`).
    private static func link(_ fd: Int32, as name: FilePath, in directory: OpenDirectory, path: FilePath) throws {
        _ = try name.withPlatformString { target in
            if geteuid() == 0 {
                do {
                    return try systemCall("link", path: path) { linkat(fd, "", directory.descriptor, target, emptyPathFlag) }
                } catch let error as IOError where error.errno == .noSuchFileOrDirectory {
                    // Before Linux 6.10, AT_EMPTY_PATH needs CAP_DAC_READ_SEARCH in the initial
                    // user namespace: root in a container or a user namespace lacks it.
                }
            }
            return try systemCall("link", path: path) {
                linkat(AT_FDCWD, "/proc/self/fd/\(fd)", directory.descriptor, target, AT_SYMLINK_FOLLOW)
            }
        }
    }
}

/// `O_TMPFILE` (`__O_TMPFILE | O_DIRECTORY`, the same on every Linux architecture Swift runs
/// on), which Swift's Glibc module does not import: the macro is made of macros.
private let openUnnamedFlag: Int32 = 0o20_000_000 | O_DIRECTORY
/// `AT_EMPTY_PATH`, likewise not imported.
private let emptyPathFlag: Int32 = 0x1000
