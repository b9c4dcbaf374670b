import Glibc
import Torus

/// How to copy.
struct CopyOptions: Sendable {
    var recursive = false
    var preserved: Preserved = []
    var xattrFailures = XattrFailurePolicy.fail
    var following = LinkFollowing.never
    var verbose = false
    var noClobber = false
    var force = false
    var verify = false
    var direct = false
    var queueDepth = 8
    var chunkSize = 1 << 20
    var method = CopyMethod.auto
}

/// How file data moves.
enum CopyMethod: String, CaseIterable, Sendable {
    /// copy_file_range: on the core for a cached file of one chunk or less, else on the blocking
    /// pool (in parallel chunks when the source is cached, prefetched ahead when it is not);
    /// ring reads and writes where the kernel cannot copy (across some file systems) and with
    /// O_DIRECT; an uncached small file is one ring read and one write.
    case auto
    /// `copy_file_range(2)` only: one copy, page cache to page cache (what cp uses); on the core
    /// for cached small files, on the blocking pool otherwise, at most one call per CPU at a time.
    case copyFileRange = "copy-file-range"
    /// `IORING_OP_SPLICE` through a pipe: one copy, in the kernel (files of one chunk or less:
    /// one ring read and one write).
    case splice
    /// `IORING_OP_READ` into a buffer, then a write (`IORING_OP_WRITE`; a plain write on the core
    /// for files of one chunk or less): two copies.
    case readWrite = "read-write"
}

/// Copies one regular file through the ring: data segments only (holes stay holes), up to
/// `queueDepth` chunks in flight, into a temporary file in the destination directory that is
/// renamed over the destination only when complete. Whatever goes wrong (an I/O error, a full
/// disk, cancellation by SIGINT), the temporary file is removed and the destination untouched.
struct FileCopier: Sendable {
    let options: CopyOptions
    let report: CopyReport
    let buffers: BufferPool
    /// --preserve=links: the copies of files with several names.
    let hardLinks = HardLinks()
    /// The files made from command-line operands, which a later operand must not overwrite.
    let justCreated = JustCreatedFiles()

    /// - Parameter filesInFlight: how many files may be copied at once (bounds the idle buffers).
    init(options: CopyOptions, report: CopyReport, filesInFlight: Int) {
        self.options = options
        self.report = report
        buffers = BufferPool(
            capacity: options.chunkSize, alignment: options.direct ? 4096 : 16,
            limit: filesInFlight + options.queueDepth)
    }

    /// Copies the regular file `source` to `destination`.
    /// - Parameters:
    ///   - metadata: the source's, when the caller has it already; otherwise it is read from the
    ///     opened file.
    ///   - intoNewDirectory: this copy created the destination's directory, so nothing can be in
    ///     the way and the existence checks are skipped (as cp does).
    ///   - topLevel: named on the command line: a symbolic link as the source is followed
    ///     unless copying recursively, one as the destination is written through (cp's rules).
    ///     Inside a tree neither is ever followed.
    ///
    /// Which operations go through the ring: the ones that may wait for the disk on a cold cache
    /// (opening the source, reading it). Creating, writing, closing and renaming in the
    /// destination directory are plain system calls on the core: io_uring would hand each of them
    /// to a kernel worker thread anyway, and that hand-off cost more than the operation itself
    /// (FileOperationRoute in the library; figures in docs/benchmarks.md).
    func copy(from source: Place, metadata known: FileMetadata?, to destination: Place, intoNewDirectory: Bool, topLevel: Bool) async throws {
        var sourceOptions: File.Options = options.direct ? [.read, .direct] : [.read]
        if !(topLevel ? options.followsOperandLinks : options.followsTreeLinks) { sourceOptions.insert(.noFollow) }
        let input = try await openAllowingDirectFallback(sourceOptions) { options in
            try await File.open(source.name, inDirectory: source.directory.fileDescriptor, path: source.path, options: options)
        }
        var copied = false
        do {
            // The open file's inode is in memory: statx on it cannot wait for the disk.
            let metadata: FileMetadata
            if let known { metadata = known } else { metadata = try await input.metadata(via: .inline) }
            guard metadata.isRegularFile else { throw CopyError("\(quoted(source.path)) is no longer a regular file") }
            copied = try await copyOrLink(
                input, metadata: metadata, from: source, to: destination,
                intoNewDirectory: intoNewDirectory, topLevel: topLevel)
        } catch {
            try? await input.close(via: .inline)
            throw error
        }
        try await input.close(via: .inline)
        guard copied else { return }
        if options.verify { try await verify(source.path, destination.path) }
        report.fileDone()
        if options.verbose { report.verbose(source.path, destination.path) }
    }

    /// With --preserve=links, a later name of a file with several names becomes a hard link to
    /// the first name's copy; anything else is copied. False if left alone (-n).
    private func copyOrLink(
        _ input: File, metadata: FileMetadata, from source: Place, to destination: Place, intoNewDirectory: Bool,
        topLevel: Bool
    ) async throws -> Bool {
        guard options.preserved.contains(.links) && metadata.linkCount > 1 else {
            return try await copy(input, metadata: metadata, from: source, to: destination, intoNewDirectory: intoNewDirectory, topLevel: topLevel)
        }
        let key = InodeKey(metadata)
        let (first, target) = await hardLinks.linkTarget(for: key)
        if let target {
            // The destination rules first, as for a copy: -n leaves an existing name alone, a
            // directory in the way is cp's "cannot overwrite directory".
            if !intoNewDirectory, case .skip = try action(for: destination, source: source, metadata: metadata, topLevel: topLevel) {
                return false
            }
            try link(destination, to: target)
            return true
        }
        var copied = false
        // The later names wait for this: tell them whatever happens (nil: copy on your own).
        defer { if first { hardLinks.finished(key, at: copied ? destination : nil) } }
        copied = try await copy(input, metadata: metadata, from: source, to: destination, intoNewDirectory: intoNewDirectory, topLevel: topLevel)
        return copied
    }

    /// Copies the open `input` as cp's rules for `destination` say; false if it was left alone (-n).
    private func copy(
        _ input: File, metadata: FileMetadata, from source: Place, to destination: Place, intoNewDirectory: Bool,
        topLevel: Bool
    ) async throws -> Bool {
        let action = intoNewDirectory ? .create : try action(for: destination, source: source, metadata: metadata, topLevel: topLevel)
        switch action {
        case .skip:
            return false
        case .create:
            try await copyContents(of: input, metadata: metadata, from: source, to: destination, replacing: nil, creating: true)
            if topLevel { justCreated.record(destination.path) }
        case .replace(let existing):
            try await copyContents(of: input, metadata: metadata, from: source, to: destination, replacing: existing, creating: false)
            if topLevel { justCreated.record(destination.path) }
        case .writeInto(let followLink):
            try await copyInto(destination, followLink: followLink, from: input, of: source, metadata: metadata)
        }
        return true
    }

    /// Writes the contents of `input` to a temporary file next to `destination` and renames it
    /// into place; whatever goes wrong, the temporary file is removed.
    /// - Parameters:
    ///   - existing: the destination being replaced, whose mode and owner the copy keeps
    ///     (without -p); nil for a new file or one whose mode and owner do not count (a symbolic
    ///     link in the way inside a tree).
    ///   - creating: nothing is under the name (an unnamed file can be linked in); false when
    ///     something is replaced, which takes a rename.
    private func copyContents(
        of input: File, metadata: FileMetadata, from source: Place, to destination: Place,
        replacing existing: FileMetadata?, creating: Bool
    ) async throws {
        let directory = destination.directory
        let mode = creationMode(metadata)
        // A new file is written unnamed and linked in when complete; a replacement (or a file
        // system without unnamed files) under a temporary name renamed over the destination.
        var temporary: FilePath?
        let output = try await openAllowingDirectFallback(options.direct ? [.write, .direct] : [.write]) { options in
            if creating, let file = try await UnnamedFile.create(in: directory, permissions: mode, options: options, path: destination.path) {
                temporary = nil
                return file
            }
            let (file, name) = try await createTemporaryFile(in: directory, permissions: mode, options: options)
            temporary = name
            return file
        }
        do {
            var length: UInt64
            if metadata.size <= UInt64(options.chunkSize) && !options.direct {
                // Writes exactly what it read: the file's length is right as it is.
                length = try await copySmall(from: input, to: output, size: Int(metadata.size))
            } else {
                let sparse = metadata.allocatedSize < metadata.size
                if !sparse { try await allocate(output, size: metadata.size, copying: source, metadata: metadata, to: destination) }
                let end = SourceEnd()
                try await copyData(from: input, to: output, size: metadata.size, sparse: sparse, end: end)
                length = end.offset ?? metadata.size
                // A sparse copy can end in a hole no write extended the file over; a preallocated
                // one is longer than a source that shrank.
                if sparse || length < metadata.size {
                    _ = try systemCall("ftruncate", path: output.path) { ftruncate(output.descriptor.rawValue, off_t(length)) }
                }
            }
            if length == metadata.size { length = try await copyRest(of: input, from: length, to: output) }
            if length != metadata.size { try await checkSizeChange(of: input, from: metadata, copied: length) }
            try FinalAttributes(copyOf: metadata, replacing: existing, preserved: options.preserved)
                .apply(to: output.descriptor.rawValue, path: output.path, createdWith: mode & ~umaskValue) {
                    report.preserveExtendedAttributes(
                        from: .descriptor(input.descriptor.rawValue), of: source.path,
                        to: .descriptor(output.descriptor.rawValue), of: destination.path, options: options)
                }
            guard let temporary else {
                // Interrupted (SIGINT) while the last bytes moved: the copy must not appear.
                try Task.checkCancellation()
                guard try UnnamedFile.publish(output, as: destination, noClobber: options.noClobber) else {
                    // -n, and the name was made meanwhile: left alone, as an existing one is.
                    report.skipped()
                    try await output.close(via: .inline)
                    return
                }
                do {
                    try await output.close(via: .inline)
                } catch {
                    // The bytes may not all be there (a close reports a failed write-back on
                    // some file systems): the copy must not stay under the name.
                    _ = try? destination.systemCall("unlink") { unlinkat(directory.descriptor, $0, 0) }
                    throw error
                }
                return
            }
            try await output.close(via: .inline)
            // Interrupted (SIGINT) while the last bytes moved: the copy must not appear.
            try Task.checkCancellation()
            _ = try temporary.withPlatformString { from in
                try destination.name.withPlatformString { to in
                    try systemCall("rename", path: output.path) { renameat(directory.descriptor, from, directory.descriptor, to) }
                }
            }
        } catch {
            // Plain system calls: the temporary file must go whatever happened, cancelled or not
            // (an unnamed one goes with its descriptor).
            if let temporary { removeTemporary(temporary, in: directory) }
            try? await output.close(via: .inline)
            throw error
        }
    }

    /// Opens the existing `destination` and writes `input` into it from the start, as cp does: a
    /// device or FIFO (sequential writes; the open waits for a FIFO's reader on the ring, not on
    /// the core), a file a command-line symbolic link points to, a file of another owner. A
    /// regular file is truncated to what was written and, with -p or --preserve=xattr, given the
    /// source's attributes; a device or FIFO keeps its own.
    private func copyInto(_ destination: Place, followLink: Bool, from input: File, of source: Place, metadata: FileMetadata) async throws {
        let output = try await File.open(
            destination.name, inDirectory: destination.directory.fileDescriptor, path: destination.path,
            options: followLink ? [.write, .truncate] : [.write, .truncate, .noFollow])
        // Reads of any length at any offset, into a device or FIFO that knows no O_DIRECT.
        try input.setDirect(false)
        do {
            try await buffers.withBuffer { buffer in
                var offset: UInt64 = 0
                while true {
                    buffer.clear()
                    let n = try await input.read(into: buffer, at: offset)
                    if n == 0 { break }
                    var written = 0
                    while written < n { written += try await output.write(buffer, from: written) }
                    offset += UInt64(n)
                    report.copiedBytes(UInt64(n), via: .readWrite)
                }
            }
            if !options.preserved.isDisjoint(with: [.standard, .xattr]), try await output.metadata(via: .inline).isRegularFile {
                let xattrs = {
                    report.preserveExtendedAttributes(
                        from: .descriptor(input.descriptor.rawValue), of: source.path,
                        to: .descriptor(output.descriptor.rawValue), of: destination.path, options: options)
                }
                if options.preserved.isDisjoint(with: .standard) {
                    xattrs()
                } else {
                    let existing = try await output.metadata(via: .inline)
                    try FinalAttributes(copyOf: metadata, replacing: existing, preserved: options.preserved)
                        .apply(to: output.descriptor.rawValue, path: output.path, createdWith: nil, afterOwner: xattrs)
                }
            }
        } catch {
            try? await output.close(via: .inline)
            throw error
        }
        try await output.close(via: .inline)
    }

    /// A file that fits in one chunk. Cached (the usual case for a warm tree): one
    /// copy_file_range on the core, page cache to page cache, as cp does; the kernel cannot
    /// wait for the disk there. Otherwise one ring read (the disk read overlaps other files'
    /// work) and one plain write.
    /// - Returns: the bytes copied (fewer than `size` if the source ended first).
    private func copySmall(from input: File, to output: File, size: Int) async throws -> UInt64 {
        guard size > 0 else { return 0 }
        let cached = input.cachedFraction(of: UInt64(size)) == 1
        // Forced copy_file_range on an uncached file: on the blocking pool, where a disk read
        // does not hold the core.
        if options.method == .copyFileRange || (options.method == .auto && cached) {
            do {
                return UInt64(try await copyRange(from: input, to: output, at: 0, length: size, via: cached ? .inline : .ring))
            } catch  where kernelRefused(error) {
                // Read and write instead.
            }
        }
        return try await buffers.withBuffer { buffer in
            while buffer.count < size {
                if try await input.read(into: buffer, at: UInt64(buffer.count), maxLength: size - buffer.count) == 0 { break }
            }
            // A buffered write only copies into the page cache; on ext4 the ring would hand it to
            // a worker thread.
            try await output.writeAll(buffer, at: 0, via: .inline)
            report.copiedBytes(UInt64(buffer.count), via: .readWrite)
            return UInt64(buffer.count)
        }
    }

    /// Allocates the whole destination of a big file before copying: a full disk fails at once,
    /// before any data moves, the file's blocks are laid out together, and on ext4 the page
    /// cache writes skip per-page delayed allocation (1 GiB warm: 180-210 ms instead of
    /// 245-325 ms in a C loop on this project's VM). An optimisation only, except when the space
    /// is not there.
    /// A refusal is worded as cp's for the same error while copying the data: "error copying"
    /// where its copy_file_range would have met it (within one file system), "error writing"
    /// where its writes would.
    private func allocate(_ output: File, size: UInt64, copying source: Place, metadata: FileMetadata, to destination: Place) async throws {
        do {
            try await output.allocate(length: size, via: .inline)
        } catch let error as IOError where ![Errno.noSpace, .fileTooLarge, .ioError].contains(error.errno) {
            // The file system cannot allocate ahead (EOPNOTSUPP, say): copy without.
        } catch let error as IOError {
            let sameFileSystem = try await output.metadata(via: .inline).device == metadata.device
            throw CopyError(
                sameFileSystem
                    ? "error copying \(quoted(source.path)) to \(quoted(destination.path)): \(reason(error))"
                    : "error writing \(quoted(destination.path)): \(reason(error))")
        }
    }

    /// Whether `error` is copy_file_range refusing two files it cannot copy between (different
    /// file system types, say; it refuses before copying anything), with `--method auto`, which
    /// then reads and writes instead.
    private func kernelRefused(_ error: any Error) -> Bool {
        guard options.method == .auto, let error = error as? IOError, error.operation == "copy_file_range" else { return false }
        return [Errno.improperLink, .invalidArgument, .notSupported, .noFunction].contains(error.errno)
    }

    /// Copies `length` bytes at `position` with copy_file_range, call after call until done or
    /// the source ends. On the blocking pool (`.ring`) each call holds one of `kernelCopySlots`.
    /// - Returns: the bytes copied; fewer than `length` where the source ended (noted in `end`).
    @discardableResult
    private func copyRange(
        from input: File, to output: File, at position: UInt64, length: Int, via route: FileOperationRoute,
        end: SourceEnd? = nil
    ) async throws -> Int {
        var done = 0
        while done < length {
            let permit = route == .ring ? try await kernelCopySlots.acquire() : nil
            defer { permit?.release() }
            let n = try await input.copyRange(
                to: output, from: position + UInt64(done), to: position + UInt64(done), length: length - done, via: route)
            if n == 0 {
                end?.ended(at: position + UInt64(done))  // the file shrank while we copied
                break
            }
            done += n
            report.copiedBytes(UInt64(n), via: .copyFileRange)
        }
        return done
    }

    /// The data segments of the source (SEEK_DATA / SEEK_HOLE when it is sparse), each copied in
    /// chunks with up to `queueDepth` in flight.
    private func copyData(from input: File, to output: File, size: UInt64, sparse: Bool, end sourceEnd: SourceEnd) async throws {
        let segments = sparse ? try dataSegments(of: input, size: size) : [(UInt64(0), size)]
        // How the data moves, measured on this project's VM (docs/benchmarks.md):
        // copy_file_range (one copy in the kernel, no pipe, no io_uring worker threads) beats
        // splice through a pipe (which runs in io_uring's worker threads and loses badly on
        // uncached data and on many files at once) and reads and writes through buffers (two
        // copies). Cached data is copied in parallel chunks; uncached data in order, prefetched
        // well ahead (kernelCopy).
        // O_DIRECT always reads and writes aligned buffers on the ring.
        let useKernelCopy: Bool
        switch options.method {
        case .auto, .copyFileRange: useKernelCopy = !options.direct
        case .splice, .readWrite: useKernelCopy = false
        }
        if useKernelCopy {
            let cached = (input.cachedFraction(of: size) ?? 0) >= 0.9
            do {
                try await kernelCopy(
                    chunks(of: segments, size: max(options.chunkSize, kernelCopyChunk)),
                    from: input, to: output, cached: cached, end: sourceEnd)
                return
            } catch  where kernelRefused(error) {
                // Read and write instead.
            }
        }
        let (aligned, tail) = splitUnalignedTail(chunks(of: segments, size: options.chunkSize))
        try await ringCopy(aligned, from: input, to: output, end: sourceEnd)
        if let tail { try await copyTail(tail, from: input, to: output, end: sourceEnd) }
    }

    /// The segments cut into pieces of at most `size` bytes.
    private func chunks(of segments: [(UInt64, UInt64)], size: Int) -> [(UInt64, Int)] {
        var chunks: [(UInt64, Int)] = []
        for (start, stop) in segments {
            var position = start
            while position < stop {
                let length = min(UInt64(size), stop - position)
                chunks.append((position, Int(length)))
                position += length
            }
        }
        return chunks
    }

    /// Copies the chunks with copy_file_range: cached, up to `queueDepth` at once for this file
    /// (one per CPU across the whole copy); uncached, in order, one at a time, with the next
    /// `readAheadChunks` prefetched. The kernel's readahead alone keeps too little in flight to
    /// keep the disk busy while the copy runs: on this project's VM, one uncached 1 GiB file took
    /// 1.0-2.0 s that way and 0.6-0.8 s with 128 MiB prefetched ahead (cp: 1.0-1.7 s).
    private func kernelCopy(_ chunks: [(UInt64, Int)], from input: File, to output: File, cached: Bool, end: SourceEnd) async throws {
        if cached {
            try await withWorkers(options.queueDepth, taking: chunks) { next in
                while let (position, length) = next.take() {
                    try await copyRange(from: input, to: output, at: position, length: length, via: .ring, end: end)
                }
            }
            return
        }
        // Each prefetched chunk holds one of `readAheadSlots` until it is copied, so that many
        // uncached files in flight share one window instead of each reading its own far ahead
        // (the disk then seeks between dozens of streams).
        var prefetched: [AsyncSemaphore.Permit] = []
        defer { for permit in prefetched { permit.release() } }
        var next = 0
        for (position, length) in chunks {
            while next < chunks.count, prefetched.count < readAheadChunks {
                let permit: AsyncSemaphore.Permit
                if next == 0 || prefetched.isEmpty {
                    permit = try await readAheadSlots.acquire()  // wait for a turn at the disk
                } else if let free = readAheadSlots.tryAcquire() {
                    permit = free
                } else {
                    break  // the window is full: copy what has arrived first
                }
                let (start, count) = chunks[next]
                // Advice only: a refused prefetch costs speed, never data.
                try? await input.prefetch(offset: start, length: UInt64(count))
                prefetched.append(permit)
                next += 1
            }
            try await copyRange(from: input, to: output, at: position, length: length, via: .ring, end: end)
            if !prefetched.isEmpty { prefetched.removeFirst().release() }
        }
    }

    /// Copies the chunks through the ring: splice through a pipe or read and write.
    private func ringCopy(_ chunks: [(UInt64, Int)], from input: File, to output: File, end: SourceEnd) async throws {
        let chunkSize = options.chunkSize
        let report = self.report
        let buffers = self.buffers
        // Splice only on request (--method splice); O_DIRECT copies use the pool's aligned buffers.
        let useSplice = options.method == .splice && !options.direct
        try await withWorkers(options.queueDepth, taking: chunks) { next in
            if useSplice {
                let pipe = try PipePair(capacity: chunkSize)
                while let (position, length) = next.take() {
                    let n = try await output.spliceCopy(from: input, at: position, to: position, length: length, through: pipe)
                    if n < length { end.ended(at: position + UInt64(n)) }
                    report.copiedBytes(UInt64(n), via: .splice)
                }
                return
            }
            try await buffers.withBuffer { buffer in
                while let (position, length) = next.take() {
                    precondition(length <= buffer.capacity, "a chunk of \(length) bytes does not fit the \(buffer.capacity)-byte buffer")
                    buffer.clear()
                    while buffer.count < length {
                        let n = try await input.read(into: buffer, at: position + UInt64(buffer.count), maxLength: length - buffer.count)
                        if n == 0 {
                            end.ended(at: position + UInt64(buffer.count))  // the file shrank while we copied
                            break
                        }
                    }
                    try await output.writeAll(buffer, at: position)
                    report.copiedBytes(UInt64(buffer.count), via: .readWrite)
                }
            }
        }
    }

    /// Runs up to `count` workers (no more than there are chunks) that take chunks from one
    /// shared cursor until none is left; the first error cancels the others.
    private func withWorkers(_ count: Int, taking chunks: [(UInt64, Int)], _ work: @escaping @Sendable (ChunkCursor) async throws -> Void)
        async throws
    {
        let next = ChunkCursor(chunks)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<min(count, max(chunks.count, 1)) {
                group.addTask { try await work(next) }
            }
            try await group.waitForAll()
        }
    }

    /// Re-reads both files and compares them.
    private func verify(_ source: FilePath, _ destination: FilePath) async throws {
        let a = try await File.open(source)
        let b = try await File.open(destination)
        let left = IOBuffer(capacity: options.chunkSize)
        let right = IOBuffer(capacity: options.chunkSize)
        var offset: UInt64 = 0
        while true {
            left.clear()
            right.clear()
            let n = try await a.read(into: left, at: offset)
            while right.count < n, try await b.read(into: right, at: offset + UInt64(right.count), maxLength: n - right.count) > 0 {}
            if n == 0 {
                if try await b.read(into: right, at: offset) != 0 {
                    throw CopyError("verify: \(quoted(destination)) is longer than \(quoted(source))")
                }
                break
            }
            if left.bytes != right.bytes { throw CopyError("verify: \(quoted(destination)) differs from \(quoted(source)) near byte \(offset)") }
            offset += UInt64(n)
        }
        try await a.close()
        try await b.close()
    }
}

/// Hands out chunk positions to the copy tasks of one file (all on one core).
final class ChunkCursor: @unchecked Sendable {
    // @unchecked: the tasks that share it are children of one task group on one core.
    private var chunks: [(UInt64, Int)]
    private var index = 0
    init(_ chunks: [(UInt64, Int)]) { self.chunks = chunks }
    func take() -> (UInt64, Int)? {
        guard index < chunks.count else { return nil }
        defer { index += 1 }
        return chunks[index]
    }
}

/// Bytes per copy_file_range call: big enough that the hop to the blocking pool is noise, small
/// enough that a SIGINT is honoured quickly.
let kernelCopyChunk = 8 << 20

/// Chunks of an uncached file prefetched ahead of the copy (16 x 8 MiB = 128 MiB)...
let readAheadChunks = 16

/// ...and across all files: uncached data prefetched but not yet copied stays under 128 MiB.
let readAheadSlots = AsyncSemaphore(permits: readAheadChunks)

/// At most one copy_file_range per CPU at a time across the whole copy (more threads than
/// CPUs only contend for memory bandwidth).
let kernelCopySlots = AsyncSemaphore(permits: max(1, Runtime.allowedCPUs.count))

// lseek whences for sparse files (GNU extensions, so not in Swift's Glibc module).
/// The data segments of a sparse source, found with `SEEK_DATA` / `SEEK_HOLE`: empty when the file
/// is all hole, the whole file when the file system cannot tell (`EINVAL`).
private func dataSegments(of input: File, size: UInt64) throws(IOError) -> [(UInt64, UInt64)] {
    var segments: [(UInt64, UInt64)] = []
    var offset: off_t = 0
    let end = off_t(size)
    do {
        while offset < end {
            guard let data = try seek(input, to: offset, SEEK_DATA) else { break }  // only a hole is left
            let hole = try seek(input, to: data, SEEK_HOLE) ?? end
            segments.append((UInt64(data), UInt64(min(hole, end))))
            offset = hole
        }
    } catch  where error.errno == .invalidArgument && segments.isEmpty {
        return [(0, size)]
    }
    return segments
}

/// `lseek` of the source to the next data (`SEEK_DATA`) or hole (`SEEK_HOLE`) at or after
/// `offset`; nil when there is none (`ENXIO`). Other failures are errors naming the source.
private func seek(_ input: File, to offset: off_t, _ whence: Int32) throws(IOError) -> off_t? {
    do {
        return try systemCall("lseek", path: input.path) { lseek(input.descriptor.rawValue, offset, whence) }
    } catch  where error.errno == Errno(rawValue: ENXIO) {
        return nil
    }
}

/// `lseek(2)`'s `SEEK_DATA` and `SEEK_HOLE` (GNU, so not in Swift's Glibc module), spelled as C
/// spells them.
// swift-format-ignore: AlwaysUseLowerCamelCase
let SEEK_DATA: Int32 = 3
// swift-format-ignore: AlwaysUseLowerCamelCase
let SEEK_HOLE: Int32 = 4

/// A copy failure with cp-style wording.
struct CopyError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
