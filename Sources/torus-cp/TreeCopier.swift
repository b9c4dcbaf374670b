import Glibc
import Synchronization
import Torus

/// Walks sources and copies them: files spread over every core (each core keeps many files and
/// chunks in flight on its ring), directories created before their contents, symbolic links
/// copied as links, FIFOs and devices recreated, sockets skipped with a warning. Failures are
/// reported and the rest goes on.
///
/// The walk never follows a symbolic link inside a tree, on either side: every entry is looked up
/// relative to its directory's open descriptor (``OpenDirectory``), files are opened with
/// `O_NOFOLLOW`, directories with `O_DIRECTORY | O_NOFOLLOW`, so an entry swapped for a link
/// while the copy runs is refused instead of read or written through.
struct TreeCopier: Sendable {
    let options: CopyOptions
    let report: CopyReport
    let files: FileCopier
    /// Bounds the files open at once (descriptors and buffers).
    let filesInFlight: AsyncSemaphore
    /// Bounds the directories walked in parallel (each holds two descriptors until its subtree
    /// is done); past it, subdirectories are walked one after the other in their parent's task.
    let directoriesInFlight: AsyncSemaphore
    let cores: [Core]
    let nextCore = CoreCounter()

    init(options: CopyOptions, report: CopyReport, cores: [Core]) {
        self.options = options
        self.report = report
        let budget = DescriptorBudget(cores: cores.count)
        self.files = FileCopier(options: options, report: report, filesInFlight: budget.files)
        self.filesInFlight = AsyncSemaphore(permits: budget.files)
        self.directoriesInFlight = AsyncSemaphore(permits: budget.directories)
        self.cores = cores
    }

    /// Copies one command-line source to the destination operand, or into `directory` (the
    /// destination operand, opened) under the source's last name.
    /// - Parameters:
    ///   - typed: both operands as they were typed, for messages.
    ///   - mustBeDirectory: the destination operand ended in `/`.
    ///   - sourceEndsInSlash: so did the source operand: it names a directory, through a
    ///     symbolic link if it is one (`cp -r link/ dest` copies the directory it points to).
    func copyTopLevel(
        _ sourceOperand: FilePath, to destinationOperand: FilePath, into directory: OpenDirectory?,
        as typed: (source: [UInt8], destination: [UInt8]), mustBeDirectory: Bool, sourceEndsInSlash: Bool
    ) async {
        // The destination as cp names it: the operand, or inside the directory it names, the
        // directory operand (without trailing slashes), a slash and the source's last name.
        var typedDestination = typed.destination
        if directory != nil, let last = sourceOperand.lastComponent {
            while typedDestination.count > 1 && typedDestination.last == UInt8(ascii: "/") { typedDestination.removeLast() }
            if typedDestination.last != UInt8(ascii: "/") { typedDestination.append(UInt8(ascii: "/")) }
            typedDestination += FilePath(root: nil, [last]).withPlatformString {
                Array(UnsafeBufferPointer(start: $0, count: strlen($0))).map { UInt8(bitPattern: $0) }
            }
        }
        let source: Place
        let metadata: FileMetadata
        // On the command line, cp follows a symbolic link unless copying recursively (-P), or
        // with -H or -L, or when the operand ends in `/`.
        let followLink = options.followsOperandLinks || sourceEndsInSlash
        do {
            source = try Place.operand(sourceOperand)
            metadata = try FileSystem.metadata(
                of: source.name, inDirectory: source.directory.fileDescriptor, path: sourceOperand,
                followSymbolicLinks: followLink)
        } catch {
            report.failed("cannot stat \(quoted(bytes: typed.source)): \(reason(error))")
            return
        }
        if sourceEndsInSlash && !metadata.isDirectory {
            report.failed("cannot stat \(quoted(bytes: typed.source)): Not a directory")
            return
        }
        if metadata.isDirectory && !options.recursive {
            report.failed("-r not specified; omitting directory \(quoted(bytes: typed.source))")
            return
        }
        // The destination's directory, once the source is known to be copied (cp's order of
        // messages); the message for one that cannot be reached names what would be created.
        let destination: Place
        if let directory {
            destination = Place(directory, sourceOperand.lastComponent.map { FilePath(root: nil, [$0]) } ?? sourceOperand)
        } else {
            do { destination = try Place.operand(destinationOperand) } catch {
                let kind = metadata.kind == .symbolicLink && followLink ? FileMetadata.Kind.regular : metadata.kind
                report.failed(unreachableDestination(quoted(bytes: typedDestination), creating: kind, error))
                return
            }
        }
        if metadata.isDirectory {
            if isInside(destination.path, sourceOperand) {
                report.failed("cannot copy a directory, \(quoted(bytes: typed.source)), into itself, \(quoted(bytes: typedDestination))")
                return
            }
        } else if mustBeDirectory {
            report.failed("cannot create regular file \(quoted(bytes: typedDestination)): Not a directory")
            return
        }
        if metadata.isDirectory {
            await copyDirectory(source, to: destination, followLink: followLink, ancestors: [])
        } else {
            await copyItem(source, metadata: metadata, to: destination, topLevel: true)
        }
    }

    private func copyItem(_ source: Place, metadata: FileMetadata, to destination: Place, topLevel: Bool) async {
        switch metadata.kind {
        case .regular:
            await withDiscardingTaskGroup { group in
                await addFileCopy(
                    to: &group, source, metadata: metadata, to: destination, intoNewDirectory: false, topLevel: topLevel,
                    on: cores[nextCore.next() % cores.count])
            }
        case .directory:
            // (A directory on the command line goes straight to copyDirectory.)
            await copyDirectory(source, to: destination, followLink: options.followsTreeLinks, ancestors: [])
        case .symbolicLink:
            await copyLink(source, metadata: metadata, to: destination)
        case .socket:
            report.failed("cannot copy socket \(quoted(source.path)): sockets are skipped")
        default:
            do {
                if try recreateSpecialFile(source, at: destination, noClobber: options.noClobber) {
                    try preserveAttributes(of: metadata, from: source, at: destination)
                    report.madeSpecialFile()
                    if options.verbose { report.verbose(source.path, destination.path) }
                } else {
                    report.skipped()
                }
            } catch {
                report.failed(cpMessage(for: error, copying: source.path, to: destination.path, kind: metadata.kind, preserved: options.preserved))
            }
        }
    }

    /// Adds a task that copies one regular file on `core`, once one of the `filesInFlight`
    /// permits is free. The permit is taken before the task exists: a task per file waiting
    /// for its turn cost ~2 KiB each and made malloc grow its heap thousands of times (each
    /// growth an mprotect that stalls the other cores' page faults).
    private func addFileCopy(
        to group: inout DiscardingTaskGroup, _ source: Place, metadata: FileMetadata?, to destination: Place,
        intoNewDirectory: Bool, topLevel: Bool, on core: Core
    ) async {
        let files = self.files
        let report = self.report
        let options = self.options
        let permit: AsyncSemaphore.Permit
        do { permit = try await filesInFlight.acquire() } catch {
            report.failed("interrupted while copying \(quoted(source.path))")
            return
        }
        group.addTask(executorPreference: core) {
            defer { permit.release() }
            do {
                try await files.copy(from: source, metadata: metadata, to: destination, intoNewDirectory: intoNewDirectory, topLevel: topLevel)
            } catch is CancellationError {
                report.failed("interrupted while copying \(quoted(source.path))")
            } catch let error as CopyError {
                report.failed(error.description)
            } catch {
                report.failed(cpMessage(for: error, copying: source.path, to: destination.path, kind: .regular, preserved: options.preserved))
            }
        }
    }

    /// - Parameters:
    ///   - followLink: open the source directory through a symbolic link (-L; -H on the command line).
    ///   - ancestors: the directories above it in the source tree, where following links could
    ///     loop back.
    private func copyDirectory(_ source: Place, to destination: Place, followLink: Bool, ancestors: [InodeKey]) async {
        do {
            // On the blocking pool, as the listing: with a cold cache the open waits for the disk.
            let sourceDirectory = try await spawnBlocking { try OpenDirectory.open(source.name, in: source.directory, followLink: followLink) }
            // The opened directory's own metadata: the entry cannot have changed under us since.
            let metadata = try FileSystem.metadata(of: FilePath(""), inDirectory: sourceDirectory.fileDescriptor, path: sourceDirectory.path)
            let key = InodeKey(metadata)
            if ancestors.contains(key) {
                throw CopyError("cannot copy cyclic symbolic link \(quoted(source.path))")
            }
            let ancestors = ancestors + [key]
            let (target, madeHere) = try makeDirectory(destination, for: source, metadata: metadata)
            if madeHere && options.verbose { report.verbose(source.path, destination.path) }
            let entries = try await FileSystem.contentsOfDirectory(descriptor: sourceDirectory.fileDescriptor, path: sourceDirectory.path)
            // Creating and renaming files take the directory's lock: the files of one directory
            // go to one core (directories take turns), so that cores do not queue on each
            // other's locks.
            let core = cores[nextCore.next() % cores.count]
            await withDiscardingTaskGroup { group in
                for entry in entries {
                    let child = Place(sourceDirectory, entry.name)
                    let childTarget = Place(target, entry.name)
                    if entry.kind == .regular {
                        // The directory listing said so: the metadata comes from the opened file,
                        // no separate statx.
                        await addFileCopy(to: &group, child, metadata: nil, to: childTarget, intoNewDirectory: madeHere, topLevel: false, on: core)
                        continue
                    }
                    // A link or special file: its statx on the ring (its inode may not be cached;
                    // the disk is not waited for on the core), in its own task as the copy.
                    let mayBeDirectory = entry.kind == .unknown || (entry.kind == .symbolicLink && options.followsTreeLinks)
                    if entry.kind != .directory && !mayBeDirectory {
                        group.addTask {
                            guard let metadata = await childMetadata(child) else { return }
                            await copyItem(child, metadata: metadata, to: childTarget, topLevel: false)
                        }
                        continue
                    }
                    // A directory by the listing needs no statx: copyDirectory opens it (refusing
                    // a link swapped in since) and reads the open directory's metadata. Otherwise
                    // the statx says whether it is one (-L, or a file system without d_type).
                    if mayBeDirectory {
                        guard let metadata = await childMetadata(child) else { continue }
                        guard metadata.isDirectory else {
                            group.addTask { await copyItem(child, metadata: metadata, to: childTarget, topLevel: false) }
                            continue
                        }
                    }
                    if let permit = directoriesInFlight.tryAcquire() {
                        group.addTask {
                            defer { permit.release() }
                            await copyDirectory(child, to: childTarget, followLink: options.followsTreeLinks, ancestors: ancestors)
                        }
                    } else {
                        await copyDirectory(child, to: childTarget, followLink: options.followsTreeLinks, ancestors: ancestors)
                    }
                }
            }
            // Owner, mode and times after the contents, so that writing them did not change
            // them. A directory that was there keeps its mode (as with cp), unless -p. Its
            // extended attributes (--preserve=xattr) are copied whether it was there or not.
            let xattrs = {
                report.preserveExtendedAttributes(
                    from: .descriptor(sourceDirectory.descriptor), of: sourceDirectory.path,
                    to: .descriptor(target.descriptor), of: target.path, directory: true, options: options)
            }
            if madeHere || !options.preserved.isDisjoint(with: .standard) {
                // What is not preserved stays as it was on a directory that was there.
                let existing = madeHere ? nil : try FileSystem.metadata(of: FilePath(""), inDirectory: target.fileDescriptor, path: target.path)
                try FinalAttributes(copyOf: metadata, replacing: existing, preserved: options.preserved)
                    .apply(to: target.descriptor, path: target.path, createdWith: nil, afterOwner: xattrs)
            } else {
                xattrs()
            }
        } catch {
            report.failed(cpMessage(for: error, copying: source.path, to: destination.path, kind: .directory, preserved: options.preserved))
        }
    }

    /// The metadata of an entry of a source directory (following a link with -L), or nil after
    /// reporting why not.
    private func childMetadata(_ child: Place) async -> FileMetadata? {
        do {
            return try await FileSystem.metadata(
                of: child.name, inDirectory: child.directory.fileDescriptor, path: child.path,
                followSymbolicLinks: options.followsTreeLinks, via: .ring)
        } catch {
            report.failed("cannot stat \(quoted(child.path)): \(reason(error))")
            return nil
        }
    }

    /// Creates the destination directory (or finds it there) and opens it without following a
    /// symbolic link. Returns whether this copy made it: nothing inside can then be in the way,
    /// so its files need no checks.
    private func makeDirectory(_ destination: Place, for source: Place, metadata: FileMetadata) throws -> (OpenDirectory, Bool) {
        // Owner-writable and searchable while the contents are copied; the final mode comes after.
        let mode = metadata.permissions.rawValue & 0o777 | 0o700
        var madeHere = false
        do {
            try destination.systemCall("mkdir") { mkdirat(destination.directory.descriptor, $0, mode) }
            report.madeDirectory()
            madeHere = true
        } catch {
            guard error.errno == .fileExists else { throw error }
        }
        do {
            return (try OpenDirectory.open(destination.name, in: destination.directory, followLink: false), madeHere)
        } catch let error as IOError where error.errno == .notDirectory || error.errno == .tooManySymbolicLinkLevels {
            throw CopyError("cannot overwrite non-directory \(quoted(destination.path)) with directory \(quoted(source.path))")
        }
    }

    private func copyLink(_ source: Place, metadata: FileMetadata, to destination: Place) async {
        do {
            let target = try FileSystem.destinationOfSymbolicLink(source.name, inDirectory: source.directory.fileDescriptor, path: source.path)
            let link = { () throws(IOError) in
                var made: Result<Int32, IOError> = .success(0)
                target.withPlatformString { target in
                    made = Result { () throws(IOError) in
                        try destination.systemCall("symlink") { symlinkat(target, destination.directory.descriptor, $0) }
                    }
                }
                _ = try made.get()
            }
            do {
                try link()
            } catch {
                guard error.errno == .fileExists else { throw error }
                if options.noClobber {
                    report.skipped()
                    return
                }
                // Replaced, as cp -r does: unlinkat never removes a directory without AT_REMOVEDIR.
                try destination.systemCall("unlink") { unlinkat(destination.directory.descriptor, $0, 0) }
                try link()
            }
            try preserveAttributes(of: metadata, from: source, at: destination)
            report.madeLink()
            if options.verbose { report.verbose(source.path, destination.path) }
        } catch {
            report.failed(cpMessage(for: error, copying: source.path, to: destination.path, kind: .symbolicLink, preserved: options.preserved))
        }
    }
}

extension TreeCopier {
    /// -p / -a on what has no descriptor to set them through (a symbolic link, a FIFO, a device
    /// node just made): owner, mode (not a link's: it means nothing on Linux) and times, by name
    /// in the open directory, never following a link; extended attributes (after the owner, as
    /// cp: a change of owner removes some) through `O_PATH` descriptors of `source` and
    /// `destination`. A symbolic link can hold only `trusted.` and `security.` attributes.
    func preserveAttributes(of metadata: FileMetadata, from source: Place, at destination: Place) throws {
        let fd = destination.directory.descriptor
        var ownerKept = true
        if options.preserved.contains(.ownership) {
            do {
                try destination.systemCall("lchown") { fchownat(fd, $0, metadata.ownerID, metadata.groupID, AT_SYMLINK_NOFOLLOW) }
            } catch {
                // As cp: a non-root copy keeps its own owner.
                guard error.errno == .notPermitted, geteuid() != 0 else { throw error }
                ownerKept = false
            }
        }
        report.preserveExtendedAttributes(from: source, to: destination, symbolicLink: metadata.isSymbolicLink, options: options)
        if options.preserved.contains(.mode) && !metadata.isSymbolicLink {
            let mode = metadata.permissions.rawValue & (ownerKept && options.preserved.contains(.ownership) ? 0o7777 : 0o1777)
            try destination.systemCall("chmod") { fchmodat(fd, $0, mode, AT_SYMLINK_NOFOLLOW) }
        }
        if options.preserved.contains(.timestamps) {
            var times = timestamps(metadata)
            try destination.systemCall("utimensat") { utimensat(fd, $0, &times, AT_SYMLINK_NOFOLLOW) }
        }
    }
}

/// Round-robin over cores.
final class CoreCounter: Sendable {
    private let value = Atomic<Int>(0)
    func next() -> Int { value.wrappingAdd(1, ordering: .relaxed).newValue }
}

/// Whether `path` is `directory` or inside it (both made absolute and resolved).
func isInside(_ path: FilePath, _ directory: FilePath) -> Bool {
    guard let base = resolved(directory) else { return false }
    // The destination may not exist yet: resolve its parent and append the name.
    let target = resolved(path) ?? path.lastComponent.flatMap { last in resolved(path.removingLastComponent()).map { $0.appending(last) } }
    guard let target else { return false }
    return target == base || target.starts(with: base)
}

func resolved(_ path: FilePath) -> FilePath? {
    let pointer = path.isEmpty ? realpath(".", nil) : path.withPlatformString { realpath($0, nil) }
    guard let pointer else { return nil }
    defer { free(pointer) }
    return FilePath(platformString: pointer)
}
