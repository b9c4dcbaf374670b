import Glibc
import Torus

/// What becomes of the destination name when a regular file is copied there: GNU cp's rules,
/// with atomic replacement (a temporary file renamed over the name) wherever the result is the
/// same as cp's in-place rewrite.
enum DestinationAction {
    /// Nothing there: a new file (written under a temporary name, renamed into place).
    case create
    /// A regular file (or, inside a tree, a symbolic link) there: replaced atomically; the copy
    /// keeps `keeping`'s mode and owner (nil: the source's, as for a new file).
    case replace(keeping: FileMetadata?)
    /// Opened and written into, as cp does: a device or FIFO (never replaced: `/dev/null` stays
    /// a device), the target of a symbolic link on the command line, or a file of another owner
    /// that an unprivileged user can write but could not give back to its owner.
    case writeInto(followLink: Bool)
    /// Left alone (-n).
    case skip
}

extension FileCopier {
    /// Decides what to do with `destination` for a copy of `source`.
    /// - Parameter topLevel: a destination named on the command line, where a symbolic link is
    ///   followed as cp does; inside a tree a link there is replaced, never written through.
    /// - Throws: ``CopyError`` with cp's wording: the same file, a directory in the way, a
    ///   dangling symbolic link, a file not writable without -f.
    func action(for destination: Place, source: Place, metadata: FileMetadata, topLevel: Bool) throws -> DestinationAction {
        let existing: FileMetadata
        do {
            existing = try FileSystem.metadata(of: destination.name, inDirectory: destination.directory.fileDescriptor, path: destination.path)
        } catch let error as IOError where error.errno == .noSuchFileOrDirectory {
            return .create
        }
        var target = existing
        if existing.isSymbolicLink {
            guard topLevel else { return options.noClobber ? skipped(destination) : .replace(keeping: nil) }
            do {
                target = try FileSystem.metadata(
                    of: destination.name, inDirectory: destination.directory.fileDescriptor,
                    path: destination.path, followSymbolicLinks: true)
            } catch let error as IOError where error.errno == .noSuchFileOrDirectory {
                throw CopyError("not writing through dangling symlink \(quoted(destination.path))")
            }
        }
        if target.inode == metadata.inode && target.device == metadata.device {
            throw CopyError("\(quoted(source.path)) and \(quoted(destination.path)) are the same file")
        }
        if options.noClobber { return skipped(destination) }
        if topLevel, justCreated.contains(destination.path) {
            throw CopyError("will not overwrite just-created \(quoted(destination.path)) with \(quoted(source.path))")
        }
        if target.isDirectory {
            throw CopyError("cannot overwrite directory \(quoted(destination.path)) with non-directory")
        }
        if existing.isSymbolicLink || !target.isRegularFile { return .writeInto(followLink: existing.isSymbolicLink) }
        let writable = destination.name.withPlatformString { faccessat(destination.directory.descriptor, $0, W_OK, AT_EACCESS) } == 0
        if !writable {
            guard options.force else {
                throw CopyError("cannot create regular file \(quoted(destination.path)): Permission denied")
            }
            return .replace(keeping: nil)  // -f: a new file in its place, as cp's unlink and create
        }
        if !options.preserved.isDisjoint(with: [.mode, .ownership]) { return .replace(keeping: nil) }
        // The copy is made by this process: it can take the old file's owner only as root (or
        // when the old file's owner and group are this process's).
        let canKeepOwner = geteuid() == 0 || (existing.ownerID == geteuid() && existing.groupID == getegid())
        return canKeepOwner ? .replace(keeping: existing) : .writeInto(followLink: false)
    }

    private func skipped(_ destination: Place) -> DestinationAction {
        report.skipped()
        return .skip
    }
}
