import Glibc
import SystemPackage
import TorusRing

// Operations relative to an open directory descriptor, with names as bytes. A tree walked this
// way cannot be redirected by a concurrent rename or symbolic link above the entry (the
// directory is pinned by its descriptor), and a name that is not valid UTF-8 is used exactly as
// the kernel stores it: nothing here goes through `String`.

extension FileSystem {
    /// The entries of the open directory `descriptor` (without `.` and `..`), names exactly as
    /// stored, in the order the file system gives.
    ///
    /// Runs `fdopendir`/`readdir` on the blocking pool, on a duplicate of `descriptor`: the
    /// caller keeps its descriptor open and owns it.
    ///
    /// Cancel safety: not interruptible: the listing runs on the blocking pool to the end and is
    /// returned even to a cancelled task.
    ///
    /// - Parameters:
    ///   - descriptor: an open directory; the caller keeps it.
    ///   - path: the directory's path, for error messages only.
    /// - Throws: ``IOError`` naming `dup`, `fdopendir` or `readdir`.
    public static func contentsOfDirectory(descriptor: FileDescriptor, path: FilePath) async throws -> [DirectoryEntry] {
        try await spawnBlocking {
            let copy = try systemCall("dup", path: path) { fcntl(descriptor.rawValue, F_DUPFD_CLOEXEC, 0) }
            guard let directory = fdopendir(copy) else {
                let error = errno
                closeOwnedDescriptor(copy)
                throw IOError(operation: "fdopendir", path: path, errno: Errno(rawValue: error))
            }
            defer { closedir(directory) }
            // The duplicate shares the caller's read position: start from the beginning even if
            // the directory was listed before.
            rewinddir(directory)
            return try readEntries(of: directory, path: path)
        }
    }

    /// Metadata of `name` inside the open directory `directory` (`statx` on the calling thread,
    /// relative to the descriptor); with `followSymbolicLinks: false`, of a link itself.
    /// - Parameters:
    ///   - name: the entry's name inside `directory`.
    ///   - directory: an open directory descriptor.
    ///   - path: the entry's path, for error messages only.
    ///   - followSymbolicLinks: describe what a symbolic link points to rather than the link.
    public static func metadata(
        of name: FilePath, inDirectory directory: FileDescriptor, path: FilePath,
        followSymbolicLinks: Bool = false
    ) throws -> FileMetadata {
        FileMetadata(
            try reportingIOError("statx", path: path) { () throws(Errno) in
                try name.withPlatformString { name in
                    Result { () throws(Errno) in
                        try FileStatusBuffer.stat(directoryFD: directory.rawValue, path: name, followSymlinks: followSymbolicLinks)
                    }
                }.get()
            })
    }

    /// ``metadata(of:inDirectory:path:followSymbolicLinks:)`` on a chosen route: `.ring` for an
    /// `IORING_OP_STATX` relative to the descriptor, so that with a cold cache the lookup waits
    /// for the disk in the kernel, not on the core (io_uring hands every `statx` to a worker
    /// thread, which costs more than the call when the inode is cached; see
    /// ``FileOperationRoute``); `.inline` for the plain call.
    ///
    /// Cancel safety: nothing changes, so a cancelled call loses nothing; repeat it.
    ///
    /// - Parameters:
    ///   - name: the entry's name inside `directory`.
    ///   - directory: an open directory descriptor.
    ///   - path: the entry's path, for error messages only.
    ///   - followSymbolicLinks: describe what a symbolic link points to rather than the link.
    ///   - route: `.ring` or `.inline`, as above.
    public static func metadata(
        of name: FilePath, inDirectory directory: FileDescriptor, path: FilePath, followSymbolicLinks: Bool = false,
        via route: FileOperationRoute
    ) async throws -> FileMetadata {
        if route == .inline {
            if Task.isCancelled { throw CancellationError() }
            return try metadata(of: name, inDirectory: directory, path: path, followSymbolicLinks: followSymbolicLinks)
        }
        let strings = CStringKeepAlive([name])
        let buffer = IOBuffer(capacity: FileStatusBuffer.byteCount)
        _ = try await ringIO("statx", path: path, keepAlive: KeepBoth(strings, buffer)) { entry, _, _ in
            entry.prepareStatx(directoryFD: directory.rawValue, path: strings[0], followSymlinks: followSymbolicLinks, buffer: buffer.storage)
        }
        return FileMetadata(FileStatusBuffer.extract(from: buffer.storage))
    }

    /// The target of the symbolic link `name` in the open directory `directory` (`readlinkat`
    /// on the calling thread), byte for byte.
    /// - Parameters:
    ///   - name: the link's name inside `directory`.
    ///   - directory: an open directory descriptor.
    ///   - path: the link's path, for error messages only.
    public static func destinationOfSymbolicLink(_ name: FilePath, inDirectory directory: FileDescriptor, path: FilePath) throws -> FilePath {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let count = try systemCall("readlink", path: path) {
            name.withPlatformString { readlinkat(directory.rawValue, $0, &buffer, buffer.count - 1) }
        }
        buffer[count] = 0
        return FilePath(platformString: buffer)
    }
}

extension File {
    /// Opens `name` relative to the open directory `directory` (`openat`; with `.noFollow`, a
    /// symbolic link in the last component is refused with `ELOOP`).
    ///
    /// Cancel safety: as ``File/open(_:options:permissions:via:)``: a cancelled open leaves no
    /// descriptor behind; with `.inline`, a task already cancelled does not start it.
    ///
    /// - Parameters:
    ///   - name: the file's name inside `directory`.
    ///   - directory: an open directory descriptor; the caller keeps it.
    ///   - path: the file's path, kept as ``path`` and used in error messages.
    ///   - options: how to open it, as ``File/open(_:options:permissions:via:)``.
    ///   - permissions: for a created file; default `rw-r--r--` (before the umask).
    ///   - route: `.ring` for `IORING_OP_OPENAT` (an open that may wait for the disk does not
    ///     hold the core), `.inline` for a plain `openat(2)` (see ``FileOperationRoute``).
    public static func open(
        _ name: FilePath, inDirectory directory: FileDescriptor, path: FilePath, options: Options = .read,
        permissions: FilePermissions = [.ownerReadWrite, .groupRead, .otherRead], via route: FileOperationRoute = .ring
    ) async throws -> File {
        if route == .inline {
            let fd = try inlineSystemCall("open", path: path) {
                Int(name.withPlatformString { openat(directory.rawValue, $0, options.openFlags, mode_t(permissions.rawValue)) })
            }
            return File(descriptor: Int32(fd), path: path)
        }
        let strings = CStringKeepAlive([name])
        let fd = try await ringIOProducingDescriptor("open", path: path, keepAlive: strings) { entry, _, _ in
            entry.prepareOpen(directoryFD: directory.rawValue, path: strings[0], flags: options.openFlags, mode: UInt32(permissions.rawValue))
        }
        return File(descriptor: fd, path: path)
    }
}
