import Glibc
import SystemPackage
import TorusRing

/// Directory and name operations, each one `io_uring` operation (`IORING_OP_MKDIRAT`,
/// `UNLINKAT`, `RENAMEAT`, `LINKAT`, `SYMLINKAT`, `STATX`) on the caller's core.
///
/// **Cancel safety.** Each single operation reports what the kernel did: it throws
/// `CancellationError` only when it was cancelled before it took effect, and one that took
/// effect (a directory made, a file renamed) returns normally even if the task was cancelled
/// meanwhile, so a caller never has to guess. A ``withTimeout(_:isolation:_:)`` deadline stops
/// them the same way. With `.inline` the call is a plain system call that runs to the end; a
/// task already cancelled does not start it. The calls that run on the blocking pool
/// (``contentsOfDirectory(at:)``, ``destinationOfSymbolicLink(at:)``) are not interrupted at
/// all: they finish and return their result. Multi-step calls say what they leave behind.
public enum FileSystem {
    /// Creates a directory (`mkdirat`).
    /// - Parameters:
    ///   - path: the directory to create.
    ///   - permissions: its mode, before the umask.
    ///   - route: `.inline` for a plain `mkdir(2)` on the calling thread (see
    ///     ``FileOperationRoute``).
    ///
    /// Cancel safety: `CancellationError` means no directory was made; a directory the kernel
    /// made is reported as made.
    /// - Throws: ``IOError``: `EEXIST` if something is there, `ENOENT` if the parent is missing.
    public static func createDirectory(
        at path: FilePath, permissions: FilePermissions = [.ownerReadWriteExecute, .groupReadExecute, .otherReadExecute],
        via route: FileOperationRoute = .ring
    ) async throws {
        if route == .inline {
            _ = try inlineSystemCall("mkdir", path: path) { Int(path.withPlatformString { mkdir($0, mode_t(permissions.rawValue)) }) }
            return
        }
        let strings = CStringKeepAlive([path])
        _ = try await ringIO("mkdir", path: path, keepAlive: strings) { entry, _, _ in
            entry.prepareMakeDirectory(directoryFD: SubmissionEntry.currentDirectory, path: strings[0], mode: UInt32(permissions.rawValue))
        }
    }

    /// Creates a directory and any missing parents; an existing directory is fine.
    ///
    /// Cancel safety: a cancelled call may leave some of the parents made; calling it again
    /// finishes the job (existing directories are fine).
    public static func createDirectories(
        at path: FilePath, permissions: FilePermissions = [.ownerReadWriteExecute, .groupReadExecute, .otherReadExecute]
    ) async throws {
        do {
            try await createDirectory(at: path, permissions: permissions)
        } catch let error as IOError where error.errno == .fileExists {
            if try await metadata(at: path).kind != .directory { throw error }
        } catch let error as IOError where error.errno == .noSuchFileOrDirectory {
            let parent = path.removingLastComponent()
            guard !parent.isEmpty, parent != path else { throw error }
            try await createDirectories(at: parent, permissions: permissions)
            try await createDirectory(at: path, permissions: permissions)
        }
    }

    /// Removes a file or symbolic link (`unlinkat`).
    ///
    /// Cancel safety: `CancellationError` means nothing was removed.
    public static func removeFile(at path: FilePath) async throws {
        let strings = CStringKeepAlive([path])
        _ = try await ringIO("unlink", path: path, keepAlive: strings) { entry, _, _ in
            entry.prepareUnlink(directoryFD: SubmissionEntry.currentDirectory, path: strings[0], removeDirectory: false)
        }
    }

    /// Removes an empty directory (`unlinkat` with `AT_REMOVEDIR`).
    ///
    /// Cancel safety: `CancellationError` means nothing was removed.
    public static func removeDirectory(at path: FilePath) async throws {
        let strings = CStringKeepAlive([path])
        _ = try await ringIO("rmdir", path: path, keepAlive: strings) { entry, _, _ in
            entry.prepareUnlink(directoryFD: SubmissionEntry.currentDirectory, path: strings[0], removeDirectory: true)
        }
    }

    /// Renames `source` to `destination` atomically (`renameat2`).
    /// - Parameters:
    ///   - source: the existing name.
    ///   - destination: the new name.
    ///   - replacing: replace an existing destination (default); false fails with `EEXIST`.
    ///   - route: `.inline` for a plain `renameat2(2)` on the calling thread: io_uring hands
    ///     every rename to a worker thread (see ``FileOperationRoute``).
    ///
    /// Cancel safety: the rename is atomic and reported as done or not: `CancellationError`
    /// means `source` is still where it was.
    public static func rename(_ source: FilePath, to destination: FilePath, replacing: Bool = true, via route: FileOperationRoute = .ring)
        async throws
    {
        if route == .inline {
            try inlineCall("rename", path: source) { () throws(Errno) in
                try renameNow(source.string, to: destination.string, noReplace: !replacing)
            }
            return
        }
        let strings = CStringKeepAlive([source, destination])
        _ = try await ringIO("rename", path: source, keepAlive: strings) { entry, _, _ in
            entry.prepareRename(from: strings[0], to: strings[1], noReplace: !replacing)
        }
    }

    /// Creates a hard link `link` to `existing` (`linkat`).
    ///
    /// Cancel safety: `CancellationError` means no link was made.
    public static func createHardLink(at link: FilePath, to existing: FilePath) async throws {
        let strings = CStringKeepAlive([existing, link])
        _ = try await ringIO("link", path: link, keepAlive: strings) { entry, _, _ in
            entry.prepareLink(from: strings[0], to: strings[1])
        }
    }

    /// Creates a symbolic link at `link` pointing to `target` (`symlinkat`).
    ///
    /// Cancel safety: `CancellationError` means no link was made.
    public static func createSymbolicLink(at link: FilePath, to target: FilePath) async throws {
        let strings = CStringKeepAlive([target, link])
        _ = try await ringIO("symlink", path: link, keepAlive: strings) { entry, _, _ in
            entry.prepareSymlink(target: strings[0], at: strings[1])
        }
    }

    /// Metadata of `path` (`statx`); with `followSymbolicLinks: false`, of a link itself.
    /// - Parameters:
    ///   - path: the file, directory or link to describe.
    ///   - followSymbolicLinks: describe what a symbolic link points to (default).
    ///   - route: `.inline` for a plain `statx(2)` on the calling thread: io_uring hands every
    ///     `statx` to a worker thread, but with a cold cache the call waits for the disk (see
    ///     ``FileOperationRoute``).
    ///
    /// Cancel safety: nothing changes, so a cancelled call loses nothing; repeat it.
    public static func metadata(at path: FilePath, followSymbolicLinks: Bool = true, via route: FileOperationRoute = .ring) async throws
        -> FileMetadata
    {
        if route == .inline {
            return FileMetadata(
                try inlineCall("statx", path: path) { () throws(Errno) in
                    try FileStatusBuffer.stat(directoryFD: AT_FDCWD, path: path.string, followSymlinks: followSymbolicLinks)
                })
        }
        let strings = CStringKeepAlive([path])
        let buffer = IOBuffer(capacity: FileStatusBuffer.byteCount)
        _ = try await ringIO("statx", path: path, keepAlive: KeepBoth(strings, buffer)) { entry, _, _ in
            entry.prepareStatx(
                directoryFD: SubmissionEntry.currentDirectory, path: strings[0], followSymlinks: followSymbolicLinks, buffer: buffer.storage)
        }
        return FileMetadata(FileStatusBuffer.extract(from: buffer.storage))
    }

    /// Whether anything exists at `path` (a dangling symbolic link counts).
    ///
    /// Cancel safety: a cancelled call throws `CancellationError` (never a wrong `false`).
    public static func exists(at path: FilePath) async throws -> Bool {
        do {
            _ = try await metadata(at: path, followSymbolicLinks: false)
            return true
        } catch let error as IOError where error.errno == .noSuchFileOrDirectory {
            return false
        }
    }

    /// The target of a symbolic link (`readlink`, on the blocking pool: not a ring operation),
    /// byte for byte.
    ///
    /// Cancel safety: not interruptible: the call finishes on the pool and returns its result
    /// even to a cancelled task (see ``spawnBlocking(_:)``).
    public static func destinationOfSymbolicLink(at path: FilePath) async throws -> FilePath {
        try await spawnBlocking {
            var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
            let n = try systemCall("readlink", path: path) { path.withPlatformString { readlink($0, &buffer, buffer.count - 1) } }
            buffer[n] = 0
            return FilePath(platformString: buffer)
        }
    }

    /// The entries of a directory (without `.` and `..`), names exactly as stored, in the order
    /// the file system gives.
    ///
    /// Listing a directory is not an io_uring operation: it runs `opendir`/`readdir` on the
    /// blocking pool, so the core keeps running its other tasks.
    ///
    /// Cancel safety: not interruptible: the listing finishes on the pool and is returned even
    /// to a cancelled task, or one whose deadline passed (see ``spawnBlocking(_:)``).
    public static func contentsOfDirectory(at path: FilePath) async throws -> [DirectoryEntry] {
        try await spawnBlocking {
            guard let directory = path.withPlatformString({ opendir($0) }) else {
                throw IOError(operation: "opendir", path: path, errno: Errno(rawValue: errno))
            }
            defer { closedir(directory) }
            return try readEntries(of: directory, path: path)
        }
    }

    /// The whole contents of a file.
    ///
    /// Cancel safety: a cancelled call returns nothing of what it read (read it again: the file
    /// is unchanged); the file it opened is closed.
    public static func readFile(at path: FilePath, limit: Int = 1 << 30) async throws -> [UInt8] {
        let file = try await File.open(path)
        let bytes = try await file.readToEnd(limit: limit, chunkSize: 256 << 10)
        try await file.close()
        return bytes
    }

    /// Replaces the contents of a file (creating it).
    ///
    /// Cancel safety: not all-or-nothing. The file is truncated first, so a cancelled call may
    /// leave it empty or holding a prefix of `contents`; calling it again rewrites it whole. For
    /// a file that must never be seen half written, write a temporary file in the same
    /// directory and ``rename(_:to:replacing:via:)`` it over the old one.
    public static func writeFile(at path: FilePath, contents: some Collection<UInt8>) async throws {
        let file = try await File.create(path)
        try await file.writeAll(contents)
        try await file.close()
    }
}
