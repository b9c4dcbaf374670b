import Glibc
import Synchronization
import SystemPackage
import TorusRing

/// An open file whose reads, writes, syncs and metadata go through the core's io_uring: real
/// asynchronous file I/O, no thread pool.
///
/// ```swift
/// let file = try await File.open("data.bin", options: [.write, .create, .truncate])
/// try await file.writeAll(bytes)
/// try await file.sync()
/// try await file.close()
/// ```
///
/// A `File` is `Sendable`: its descriptor can be used from any core. If it is deinitialised
/// without ``close(via:)``, the descriptor is closed then (synchronously), so it never leaks.
/// Every call holds the descriptor until the kernel is done with it, so closing the file from
/// one task while another reads it is safe (see ``close(via:)``).
///
/// **Cancel safety.** Every call reports what the kernel did. Reads and writes of regular files
/// and block devices are not cancelled once issued (the kernel cannot stop them, and they end in
/// bounded time): a cancelled task, or one whose deadline passed, gets their result, bytes
/// included, and its next call is refused with `CancellationError` before it is submitted. On FIFOs, terminals and character
/// devices, which can wait forever, reads and writes are cancelled in the kernel as socket I/O
/// is: a cancelled read takes no byte, unless it completed first, and then returns it. Other
/// operations (sync, allocate, metadata) throw `CancellationError` only when the kernel
/// cancelled them before they took effect; an open that the kernel completed for a cancelled
/// task has its descriptor closed before it throws, so none leaks. A
/// ``withTimeout(_:isolation:_:)`` deadline stops calls the same way. Multi-step calls (``writeAll(_:at:via:)``, ``AsyncReader/readToEnd(limit:chunkSize:)``,
/// ``spliceCopy(from:at:to:length:through:)``) stop between steps and say what is left behind.
public final class File: AsyncReader, AsyncWriter, Sendable {
    /// How to open a file (`O_*` flags).
    public struct Options: OptionSet, Sendable, Hashable {
        /// The `O_*` flags.
        public let rawValue: Int32
        /// Options from `O_*` flags.
        public init(rawValue: Int32) { self.rawValue = rawValue }

        /// Open for reading.
        public static let read = Options(rawValue: 1 << 0)
        /// Open for writing.
        public static let write = Options(rawValue: 1 << 1)
        /// Create the file if it does not exist (`O_CREAT`).
        public static let create = Options(rawValue: 1 << 2)
        /// Truncate to zero length (`O_TRUNC`).
        public static let truncate = Options(rawValue: 1 << 3)
        /// Every write goes to the end (`O_APPEND`).
        public static let append = Options(rawValue: 1 << 4)
        /// Fail if the file exists (`O_CREAT | O_EXCL`).
        public static let exclusive = Options(rawValue: 1 << 5)
        /// Bypass the page cache (`O_DIRECT`): buffers, offsets and lengths must be aligned to
        /// the device's block size (use `IOBuffer(capacity:alignment: 4096)`).
        public static let direct = Options(rawValue: 1 << 6)
        /// Fail with `ELOOP` if the last component is a symbolic link instead of following it
        /// (`O_NOFOLLOW`).
        public static let noFollow = Options(rawValue: 1 << 7)

        var openFlags: Int32 {
            var flags: Int32 = O_CLOEXEC
            switch (contains(.read), contains(.write) || contains(.append)) {
            case (true, true): flags |= O_RDWR
            case (false, true): flags |= O_WRONLY
            default: flags |= O_RDONLY
            }
            if contains(.create) { flags |= O_CREAT }
            if contains(.truncate) { flags |= O_TRUNC }
            if contains(.append) { flags |= O_APPEND }
            if contains(.exclusive) { flags |= O_CREAT | O_EXCL }
            if contains(.direct) { flags |= SubmissionEntry.directIOFlag }
            if contains(.noFollow) { flags |= O_NOFOLLOW }
            return flags
        }
    }

    /// The path the file was opened with.
    public let path: FilePath
    /// The descriptor, borrowed by every call that hands it to the kernel, so that a close
    /// never lets a queued operation reach a reused number (see ``SharedDescriptor``).
    let sharedDescriptor: SharedDescriptor
    /// Whether reads and writes complete in bounded time (a regular file or a block device:
    /// 1) or may wait indefinitely (a FIFO, a terminal, a character device: 2); 0 until the
    /// first read or write asks.
    private let boundedKind = Atomic<UInt8>(0)

    init(descriptor: Int32, path: FilePath) {
        self.sharedDescriptor = SharedDescriptor(descriptor)
        self.path = path
    }

    /// Whether a read or write may be left to complete when its task is cancelled instead of
    /// being cancelled in the kernel. For regular files and block devices it may: such I/O ends
    /// in bounded time, and the kernel cannot cancel it once issued anyway; skipping the
    /// cancellation handler makes each operation cheaper. A FIFO or a terminal can block
    /// forever, so their operations stay cancellable.
    func completesPromptly(_ fd: Int32) -> Bool {
        switch boundedKind.load(ordering: .relaxed) {
        case 1: return true
        case 2: return false
        default:
            var status = stat()
            let kind = fstat(fd, &status) == 0 ? status.st_mode & S_IFMT : 0
            let bounded = kind == S_IFREG || kind == S_IFBLK
            boundedKind.store(bounded ? 1 : 2, ordering: .relaxed)
            return bounded
        }
    }

    /// Borrows the descriptor for one call (give it back with `sharedDescriptor.giveBack()`), or
    /// throws `EBADF` once the file is closing.
    func borrowDescriptor(for operation: String) throws -> Int32 {
        guard let fd = sharedDescriptor.borrow() else { throw IOError(operation: operation, path: path, errno: .badFileDescriptor) }
        return fd
    }

    /// The open descriptor, as swift-system's `FileDescriptor` (raw value -1 once closed).
    /// Torus still owns it: don't close it, and don't use it after ``close(via:)`` (the number
    /// may then name another file). ``withDescriptor(_:)`` lends it safely: a close waits for
    /// the closure to return.
    public var descriptor: FileDescriptor { FileDescriptor(rawValue: sharedDescriptor.currentValue) }

    /// Opens `path` with `IORING_OP_OPENAT`.
    /// - Parameters:
    ///   - path: the file to open.
    ///   - options: default `.read`.
    ///   - permissions: for a created file; default `rw-r--r--` (before the umask).
    ///   - route: `.inline` for a plain `open(2)` on the calling thread: io_uring hands every
    ///     open that creates a file to a worker thread (see ``FileOperationRoute``).
    ///
    /// Cancel safety: a cancelled open leaves no descriptor behind: the kernel's open is
    /// cancelled, or, if it opened the file anyway, that descriptor is closed before
    /// `CancellationError` is thrown. Its effects on the file system stay (a file made by
    /// `.create` exists, `.truncate` has emptied it). Under a ``withTimeout(_:isolation:_:)``
    /// deadline, an open that completed before the kernel could cancel it returns its `File`.
    /// With `.inline` the call is a plain `open(2)` that cannot be interrupted; a task already
    /// cancelled does not start it.
    /// - Throws: ``IOError`` (`open "PATH": No such file or directory (ENOENT)`, ...),
    ///   `CancellationError` (a descriptor opened despite the cancellation is closed).
    public static func open(
        _ path: FilePath, options: Options = .read, permissions: FilePermissions = [.ownerReadWrite, .groupRead, .otherRead],
        via route: FileOperationRoute = .ring
    ) async throws -> File {
        if route == .inline {
            let fd = try inlineSystemCall("open", path: path) {
                Int(path.withPlatformString { Glibc.open($0, options.openFlags, mode_t(permissions.rawValue)) })
            }
            return File(descriptor: Int32(fd), path: path)
        }
        let strings = CStringKeepAlive([path])
        let fd = try await ringIOProducingDescriptor("open", path: path, keepAlive: strings) { entry, _, _ in
            entry.prepareOpen(
                directoryFD: SubmissionEntry.currentDirectory, path: strings[0], flags: options.openFlags, mode: UInt32(permissions.rawValue))
        }
        return File(descriptor: fd, path: path)
    }

    /// Creates (or truncates) `path` for writing.
    ///
    /// Cancel safety: as ``open(_:options:permissions:via:)``: no descriptor leaks, but the file
    /// may have been created or truncated.
    public static func create(_ path: FilePath, permissions: FilePermissions = [.ownerReadWrite, .groupRead, .otherRead]) async throws -> File {
        try await open(path, options: [.write, .create, .truncate], permissions: permissions)
    }

    /// Closes the descriptor with `IORING_OP_CLOSE` (with `.inline`, a plain `close(2)`; the
    /// close itself never waits for a disk). Closing twice does nothing: a second call returns
    /// at once, even while the first still waits for the calls in flight (below).
    ///
    /// Calls on this file still in flight from other tasks (a read of a FIFO that waits for a
    /// writer, say) are cancelled first, and the descriptor is closed once the last of them has
    /// completed: they end with their result or an error (`ECANCELED`), and no operation queued
    /// before the close can reach a file opened afterwards under the same number. Calls made
    /// after the close began fail with `EBADF`. Calls the kernel cannot cancel are waited for:
    /// a regular-file read already issued (it may wait for the disk), a ``copyRange(to:from:to:length:via:)``
    /// running on the blocking pool. One caveat: the kernel cancels by open file description,
    /// so calls in flight on another `File` sharing this one's (a duplicate, as
    /// ``StandardStreams`` makes) are cancelled too and end with `ECANCELED`.
    ///
    /// Cancel safety: the descriptor is closed whatever happens: in a cancelled task (or when
    /// the kernel cancelled the ring's close) with a plain `close(2)`, without throwing. A
    /// cancelled close still waits for the calls in flight (which the close has cancelled).
    public func close(via route: FileOperationRoute = .ring) async throws {
        // Operations still holding the descriptor (another task's read, say) are cancelled and
        // waited for: the number is closed only when nothing can hand it to the kernel any more.
        guard await sharedDescriptor.closeWhenUnused() else { return }
        let fd = sharedDescriptor.rawValue
        if route == .inline {
            try closeOwnedDescriptorReporting(fd, path: path)
            return
        }
        try await closeDescriptor(fd, path: path)
    }

    // MARK: Reading and writing

    /// Reads at the file position (advancing it).
    ///
    /// Cancel safety: no byte is lost. A regular-file read already issued completes and its
    /// bytes are appended to `buffer` and counted; a task cancelled before the call submits
    /// nothing and gets `CancellationError`. On a FIFO or terminal the read is cancelled in the
    /// kernel and consumes nothing, unless it completed first (then its bytes are returned).
    public func read(into buffer: IOBuffer, maxLength: Int) async throws -> Int {
        try await read(into: buffer, maxLength: maxLength, offset: UInt64.max)
    }

    /// Reads at `offset` without moving the file position (`pread`).
    ///
    /// Runs where it is called, without an executor switch on the way in or out: in a task on a
    /// core it submits to that core's ring. Called from an actor, it reads on the task's own
    /// core into a buffer of its own and copies the bytes into `buffer` when it returns: at most
    /// 1 MiB per call, and only what still fits in `buffer` then (the actor may have been
    /// re-entered and filled it meanwhile); into a buffer that a stream read from the actor is
    /// waiting to fill, it throws ``IOError`` with `EBUSY`.
    ///
    /// Cancel safety: as ``read(into:maxLength:)``; nothing moves, so a cancelled `pread` can
    /// simply be repeated.
    /// - Throws: ``IOError`` with `EINVAL` for an offset past 2^63 - 1, as `pread` would.
    public nonisolated(nonsending) func read(into buffer: IOBuffer, at offset: UInt64, maxLength: Int? = nil) async throws -> Int {
        let offset = try checkedOffset(offset, for: "read")
        // A plain `nonisolated async` function would switch to the task's executor on entry and
        // its caller would switch back after it: each `swift_task_switch` reads the task's
        // executor preference under a lock, two of a 4 KiB read's three (-8% of its CPU,
        // docs/benchmarks.md). Without an actor, the caller already runs on its task's core.
        // (Through a local: `#isolation == nil` written in the condition crashes the 6.3.1
        // compiler at -Onone, "PHINode should have one entry for each predecessor".)
        let callerIsolation = #isolation
        if callerIsolation == nil, Core.isTaskOnItsPreferredCore {
            return try await read(into: buffer, maxLength: maxLength ?? buffer.freeCapacity, offset: offset)
        }
        return try await readFromActor(into: buffer, maxLength: maxLength, offset: offset)
    }

    /// A `pread` called from an actor. The actor's jobs may run on any core's thread (a default
    /// actor shared by tasks on two cores runs on whichever holds it) or on none (the main
    /// actor), and an operation must be submitted, retried and settled on one core. So the read
    /// runs on the task's own core, and, since a caller's `IOBuffer` cannot be handed to
    /// another isolation domain, into a buffer of that call's own, copied into `buffer` here.
    ///
    /// At most `actorReadLimit` bytes per call (a short read, as `pread` may return): the
    /// scratch buffer is allocated per call. The actor is re-entered while the read waits, and
    /// another call may fill `buffer` meanwhile: only what still fits is appended and counted
    /// (the read is positional, so the rest is read again by asking again), never a trap.
    private nonisolated(nonsending) func readFromActor(into buffer: IOBuffer, maxLength: Int?, offset: UInt64) async throws -> Int {
        // A stream read from this actor waits to append to this buffer: the space it asked for
        // is its own (its bytes cannot be put back).
        guard !buffer.awaitsStreamBytes else { throw IOError(operation: "read", path: path, errno: .resourceBusy) }
        let length = min(maxLength ?? buffer.freeCapacity, buffer.freeCapacity, Self.actorReadLimit)
        let bytes = try await readOnTaskCore(length: length, offset: offset)
        let fitting = min(bytes.count, buffer.freeCapacity)
        buffer.append(bytes.prefix(fitting))
        return fitting
    }

    /// The most one read from an actor moves (its scratch buffer's size): 1 MiB, a multiple of
    /// every direct-I/O block size.
    static let actorReadLimit = 1 << 20

    /// Reads up to `length` bytes at `offset` on the calling task's core (a plain `nonisolated
    /// async` function runs there), into an aligned buffer (the file may be in direct mode).
    @concurrent private func readOnTaskCore(length: Int, offset: UInt64) async throws -> [UInt8] {
        let scratch = IOBuffer(capacity: max(length, 1), alignment: 4096)
        _ = try await read(into: scratch, maxLength: length, offset: offset)
        return scratch.bytes
    }

    /// `offset` if the kernel can take it as a position (`off_t`, at most 2^63 - 1); else the
    /// `EINVAL` that `pread`/`pwrite` give. Past that, the ring would read an offset of -1
    /// (`UInt64.max`) as "at the file position, moving it", and the rest as negative.
    func checkedOffset(_ offset: UInt64, for operation: String) throws(IOError) -> UInt64 {
        guard offset <= UInt64(Int64.max) else { throw IOError(operation: operation, path: path, errno: .invalidArgument) }
        return offset
    }

    nonisolated(nonsending) func read(into buffer: IOBuffer, maxLength: Int, offset: UInt64) async throws -> Int {
        let fd = try borrowDescriptor(for: "read")
        defer { sharedDescriptor.giveBack() }
        let length = min(maxLength, buffer.freeCapacity, maximumTransfer)
        guard length > 0 else { return 0 }
        let target = buffer.storage + buffer.count
        let n = try await ringIO("read", path: path, keepAlive: buffer, cancellable: !completesPromptly(fd), holding: sharedDescriptor) {
            entry, _, _ in
            entry.prepareRead(fd: fd, buffer: target, length: UInt32(length), offset: offset)
        }
        buffer.count += Int(n)
        return Int(n)
    }

    /// Writes at the file position (advancing it; at the end with `.append`).
    ///
    /// Cancel safety: a regular-file write already issued completes and returns its count even
    /// if the task was cancelled meanwhile; a task cancelled before the call writes nothing and
    /// gets `CancellationError`. On a FIFO or terminal the write is cancelled in the kernel; one
    /// that completed first returns its count, so the caller always learns what went out.
    public func write(_ buffer: IOBuffer, from offset: Int) async throws -> Int {
        try await write(buffer, from: offset, fileOffset: UInt64.max)
    }

    /// Writes `buffer[from..<count]` at `offset` without moving the file position (`pwrite`).
    /// - Parameters:
    ///   - buffer: the bytes to write.
    ///   - start: the first byte of `buffer` to write.
    ///   - offset: where in the file the first byte goes.
    ///   - route: `.inline` for a plain `pwrite(2)` on the calling thread: on ext4, io_uring
    ///     hands every buffered write to a worker thread (see ``FileOperationRoute``).
    ///
    /// Cancel safety: as ``write(_:from:)``. With `.inline`, a plain `pwrite(2)` that cannot be
    /// interrupted; a task already cancelled does not start it.
    public func write(_ buffer: IOBuffer, from start: Int = 0, at offset: UInt64, via route: FileOperationRoute = .ring)
        async throws -> Int
    {
        try await write(buffer, from: start, fileOffset: checkedOffset(offset, for: "write"), via: route)
    }

    /// Writes all of `buffer[0..<count]` at `offset`, looping over short writes.
    ///
    /// Cancel safety: cancellation stops the loop between writes (each write issued completes),
    /// so a cancelled call may leave a prefix of the bytes written, and how many is not
    /// reported. Every byte goes to a fixed offset, though, so calling it again writes the same
    /// bytes to the same places: retrying after a cancellation is safe.
    public func writeAll(_ buffer: IOBuffer, at offset: UInt64, via route: FileOperationRoute = .ring) async throws {
        _ = try checkedOffset(offset, for: "write")
        var done = 0
        while done < buffer.count {
            done += try await write(buffer, from: done, fileOffset: offset + UInt64(done), via: route)
        }
    }

    nonisolated(nonsending) private func write(_ buffer: IOBuffer, from start: Int, fileOffset: UInt64, via route: FileOperationRoute = .ring)
        async throws -> Int
    {
        // A negative offset would write the heap bytes before the buffer.
        precondition(start >= 0 && start <= buffer.count, "a write from offset \(start) of a \(buffer.count)-byte buffer")
        let fd = try borrowDescriptor(for: "write")
        defer { sharedDescriptor.giveBack() }
        let length = min(buffer.count - start, maximumTransfer)
        guard length > 0 else { return 0 }
        let source = UnsafeRawPointer(buffer.storage + start)
        if route == .inline {
            // SAFETY: `buffer` is alive for this synchronous call.
            let n = try inlineTransfer("write", path: path, length: length) { length in
                fileOffset == UInt64.max ? Glibc.write(fd, source, length) : pwrite(fd, source, length, off_t(fileOffset))
            }
            if n == 0 { throw IOError(operation: "write", path: path, errno: .noSpace) }
            return n
        }
        let n = try await ringIO("write", path: path, keepAlive: buffer, cancellable: !completesPromptly(fd), holding: sharedDescriptor) {
            entry, _, _ in
            entry.prepareWrite(fd: fd, buffer: source, length: UInt32(length), offset: fileOffset)
        }
        if n == 0 { throw IOError(operation: "write", path: path, errno: .noSpace) }
        return Int(n)
    }

    /// Asks the kernel to start reading `length` bytes at `offset` into the page cache
    /// (`IORING_OP_FADVISE` with `POSIX_FADV_WILLNEED`), and returns once the reads are issued,
    /// not when they finish. The kernel's own readahead keeps only a little in flight ahead of a
    /// sequential reader; prefetching tens of megabytes ahead keeps the device busy while the
    /// caller works on what has arrived (torus-cp copies uncached big files this way: 1.5-2x
    /// faster on this project's VM). Advice only: data the kernel did not read is read later.
    ///
    /// Cancel safety: nothing to lose: a cancelled call stops advising (advice already given
    /// stays given) and throws `CancellationError`.
    public func prefetch(offset: UInt64, length: UInt64) async throws {
        let fd = try borrowDescriptor(for: "fadvise")
        defer { sharedDescriptor.giveBack() }
        var position = offset
        let end = offset + length
        while position < end {
            // One advice reads at most max(read_ahead_kb, max_sectors_kb) of the device (from
            // 1.25 MiB on a default disk), the rest is silently dropped: advise 1 MiB at a time.
            let step = min(end - position, 1 << 20)
            let start = position
            _ = try await ringIO("fadvise", path: path) { entry, _, _ in
                entry.prepareWillNeed(fd: fd, offset: start, length: UInt32(step))
            }
            position += step
        }
    }

    /// Allocates disk space for bytes `offset..<offset + length` and extends the file to cover
    /// them (`fallocate`, mode 0): a later write there cannot fail for lack of space, and the
    /// blocks are laid out together. On ext4, writes into allocated space also skip the
    /// per-page delayed-allocation bookkeeping: torus-cp allocates each big destination file
    /// first, and copying 1 GiB from the page cache took 180-210 ms instead of 245-325 ms.
    /// - Parameters:
    ///   - offset: the first byte to allocate.
    ///   - length: how many bytes.
    ///   - route: `.inline` for a plain `fallocate(2)` on the calling thread (the ring hands
    ///     every `IORING_OP_FALLOCATE` to a worker thread; see ``FileOperationRoute``).
    /// - Throws: ``IOError`` naming `fallocate`: `ENOSPC` when the space is not there,
    ///   `EOPNOTSUPP` on file systems that cannot allocate ahead.
    ///
    /// Cancel safety: throws `CancellationError` only when the kernel cancelled the call before
    /// it ran; an allocation that ran returns normally (with `.inline`, the call runs to the end).
    public func allocate(offset: UInt64 = 0, length: UInt64, via route: FileOperationRoute = .ring) async throws {
        let fd = try borrowDescriptor(for: "fallocate")
        defer { sharedDescriptor.giveBack() }
        if route == .inline {
            try inlineCall("fallocate", path: path) { () throws(Errno) in try allocateNow(fd: fd, offset: offset, length: length) }
            return
        }
        _ = try await ringIO("fallocate", path: path) { entry, _, _ in entry.prepareAllocate(fd: fd, offset: offset, length: length) }
    }

    /// Flushes data and metadata to the device (`fsync`).
    ///
    /// Cancel safety: a sync that returns normally has completed. One that throws
    /// `CancellationError` was cancelled before it ran, so nothing is promised about what
    /// reached the device: call it again. (A sync already running in the kernel completes.)
    public func sync() async throws {
        let fd = try borrowDescriptor(for: "fsync")
        defer { sharedDescriptor.giveBack() }
        _ = try await ringIO("fsync", path: path) { entry, _, _ in entry.prepareFsync(fd: fd, dataOnly: false) }
    }

    /// Flushes data (and only the metadata needed to read it back) to the device (`fdatasync`).
    ///
    /// Cancel safety: as ``sync()``: `CancellationError` means not synced.
    public func syncData() async throws {
        let fd = try borrowDescriptor(for: "fdatasync")
        defer { sharedDescriptor.giveBack() }
        _ = try await ringIO("fdatasync", path: path) { entry, _, _ in entry.prepareFsync(fd: fd, dataOnly: true) }
    }

    /// Size, kind, permissions and times of the open file (`statx` with `AT_EMPTY_PATH`).
    /// - Parameter route: `.inline` for a plain `statx(2)` on the calling thread. On a local file
    ///   system the open file's inode is in memory, so it cannot wait for the disk, while
    ///   io_uring hands every `statx` to a worker thread (see ``FileOperationRoute``).
    ///
    /// Cancel safety: nothing changes, so a cancelled call loses nothing; repeat it.
    public func metadata(via route: FileOperationRoute = .ring) async throws -> FileMetadata {
        let fd = try borrowDescriptor(for: "statx")
        defer { sharedDescriptor.giveBack() }
        if route == .inline {
            return FileMetadata(
                try inlineCall("statx", path: path) { () throws(Errno) in
                    try FileStatusBuffer.stat(directoryFD: fd, path: "", followSymlinks: true)
                })
        }
        let buffer = IOBuffer(capacity: FileStatusBuffer.byteCount)
        let empty = CStringKeepAlive(strings: [""])
        let holder = KeepBoth(buffer, empty)
        _ = try await ringIO("statx", path: path, keepAlive: holder) { entry, _, _ in
            entry.prepareStatx(fd: fd, emptyPath: empty[0], buffer: buffer.storage)
        }
        return FileMetadata(FileStatusBuffer.extract(from: buffer.storage))
    }
}

/// Keeps two objects alive for one operation.
final class KeepBoth {
    let first: AnyObject
    let second: AnyObject
    init(_ first: AnyObject, _ second: AnyObject) {
        self.first = first
        self.second = second
    }
}
