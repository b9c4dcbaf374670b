import Glibc
import SystemPackage
import TorusRing

/// A pipe, for moving file data with `splice` instead of copying it through user memory.
///
/// Bytes spliced into the pipe and not out again stay in it and come out first on the next
/// splice from it. ``File/spliceCopy(from:at:to:length:through:)`` empties the pipe when it
/// fails or is cancelled; callers of the single-step ``File/splice(into:from:length:)`` and
/// ``File/splice(from:to:length:)`` keep track themselves.
public final class PipePair: Sendable {
    /// The read end (owned by the pair: don't close it).
    public var readEnd: FileDescriptor { FileDescriptor(rawValue: readNumber) }
    /// The write end (owned by the pair: don't close it).
    public var writeEnd: FileDescriptor { FileDescriptor(rawValue: writeNumber) }
    /// The ends as numbers, for the system calls and SQEs that take them.
    let readNumber: Int32
    let writeNumber: Int32

    /// A new pipe (close-on-exec), with its capacity raised to `capacity` bytes if given (the
    /// kernel caps it at `/proc/sys/fs/pipe-max-size`).
    public init(capacity: Int? = nil) throws {
        // Close-on-exec from the start: no window in which a fork could inherit the ends.
        do { (readNumber, writeNumber) = try makeCloseOnExecPipe() } catch { throw IOError(operation: "pipe", errno: error) }
        // A larger pipe is an optimisation: where the kernel refuses (over the per-user pipe
        // limit, EPERM), the default 64 KiB pipe works, only with more splices.
        if let capacity {
            do {
                _ = try systemCall("fcntl(F_SETPIPE_SZ)") { fcntl(writeNumber, pipeSetSize, Int32(clamping: capacity)) }
            } catch  where error.errno != .notPermitted {
                closeOwnedDescriptor(readNumber)
                closeOwnedDescriptor(writeNumber)
                throw error
            } catch {}
        }
    }

    /// The pipe's capacity in bytes.
    public var capacity: Int {
        // Cannot fail on a pipe this object owns: a failure would be a bug.
        do { return try Int(systemCall("fcntl(F_GETPIPE_SZ)") { fcntl(writeNumber, pipeGetSize) }) } catch {
            preconditionFailure("\(error) on an owned pipe")
        }
    }

    /// Reads and drops whatever the pipe holds, without blocking (the read end is made
    /// non-blocking for the drain). For the pipe's one user, between operations.
    func discardContents() {
        let flags = fcntl(readNumber, F_GETFL)
        guard flags >= 0, fcntl(readNumber, F_SETFL, flags | O_NONBLOCK) == 0 else { return }
        defer {
            // Only fails for a bad descriptor, which this object owns.
            if fcntl(readNumber, F_SETFL, flags) != 0 { preconditionFailure("fcntl(F_SETFL) on an owned pipe: \(Errno(rawValue: errno))") }
        }
        var scratch = [UInt8](repeating: 0, count: 16 << 10)
        while true {
            let n = scratch.withUnsafeMutableBytes { Glibc.read(readNumber, $0.baseAddress, $0.count) }
            if n > 0 { continue }
            if n < 0 && errno == EINTR { continue }
            return  // empty (EAGAIN), or the write end is gone
        }
    }

    deinit {
        // SAFETY: operations on the pipe keep this object alive until their final completion.
        closeOwnedDescriptor(readNumber)
        closeOwnedDescriptor(writeNumber)
    }
}

extension File {
    /// An estimate (0...1) of how much of the file's first `size` bytes is in the page cache
    /// (`cachestat`, Linux 6.5+), or nil when the kernel cannot say.
    ///
    /// Splicing cached data is one in-kernel copy; splicing data that must first come from the
    /// device runs in io_uring's worker threads and is much slower than a plain read. This is
    /// how a copier picks between them. It samples three 1 MiB windows (start, middle, end):
    /// `cachestat` over a whole large file that was evicted costs seconds, because it examines
    /// every shadow entry the eviction left behind.
    public func cachedFraction(of size: UInt64) -> Double? {
        let window: UInt64 = 1 << 20
        guard let fd = sharedDescriptor.borrow() else { return nil }
        defer { sharedDescriptor.giveBack() }
        if size <= 3 * window { return PageCache.residentFraction(fd: fd, offset: 0, length: size) }
        var total = 0.0
        for start in [0, size / 2 - window / 2, size - window] {
            guard let fraction = PageCache.residentFraction(fd: fd, offset: start, length: window) else { return nil }
            total += fraction
        }
        return total / 3
    }

    /// Moves up to `length` bytes of this file, starting at `offset`, into `pipe`
    /// (`IORING_OP_SPLICE`: the page cache's pages are referenced, not copied). Returns the count;
    /// 0 at end of file.
    ///
    /// Cancel safety: a cancelled splice moves nothing and throws, or, if it completed first,
    /// returns its count: the caller always knows how many bytes are in the pipe. One caveat: a
    /// splice that has to wait for room in a full pipe waits in one of io_uring's worker
    /// threads; task cancellation interrupts it there, but the linked timeout of a
    /// ``withTimeout(_:isolation:_:)`` deadline does not (seen on Linux 6.18), so under a
    /// deadline it waits until the pipe has room. Keep the pipe drained, as
    /// ``spliceCopy(from:at:to:length:through:)`` does, and it never waits.
    public func splice(into pipe: PipePair, from offset: UInt64, length: Int) async throws -> Int {
        let fd = try borrowDescriptor(for: "splice")
        defer { sharedDescriptor.giveBack() }
        // The kernel files the splice under its output, the pipe, so a close of this file must
        // cancel it by id (IORING_ASYNC_CANCEL_FD on the file would not find it, and the close
        // would wait for room in the pipe).
        var submitted: [OperationID] = []
        defer { for id in submitted { sharedDescriptor.operationEnded(id) } }
        return Int(
            try await ringIO("splice", path: path, keepAlive: pipe, holding: sharedDescriptor) { entry, core, id in
                entry.prepareSplice(
                    from: fd, offset: Int64(offset), to: pipe.writeNumber, offset: -1, length: UInt32(min(length, maximumTransfer)), flags: 0)
                sharedDescriptor.cancelOnClose(id, on: core)
                submitted.append(id)
            })
    }

    /// Moves up to `length` bytes out of `pipe` into this file at `offset`. Returns the count.
    ///
    /// Cancel safety: a cancelled splice takes nothing out of the pipe and throws, or, if it
    /// completed first, returns its count; bytes not moved stay in the pipe. As with
    /// ``splice(into:from:length:)``, a splice that waits on an empty pipe is interrupted by task
    /// cancellation but not by a deadline.
    public func splice(from pipe: PipePair, to offset: UInt64, length: Int) async throws -> Int {
        let fd = try borrowDescriptor(for: "splice")
        defer { sharedDescriptor.giveBack() }
        return Int(
            try await ringIO("splice", path: path, keepAlive: pipe, holding: sharedDescriptor) { entry, _, _ in
                entry.prepareSplice(
                    from: pipe.readNumber, offset: -1, to: fd, offset: Int64(offset), length: UInt32(min(length, maximumTransfer)), flags: 0)
            })
    }

    /// Copies `length` bytes from `source` at `sourceOffset` to this file at `offset` through
    /// `pipe` with two splices per pipe-full: one copy in the kernel instead of two through user
    /// memory. Returns the bytes copied (fewer only if the source ended).
    ///
    /// Cancel safety: a cancelled (or failed) copy may have written part of the range, and does
    /// not report how much; the source is unchanged, so copying the range again is safe. The
    /// bytes it had moved into `pipe` but not out are dropped before it throws, so the pipe can
    /// be reused: left there, they would be written at the start of the next copy through it.
    public func spliceCopy(from source: File, at sourceOffset: UInt64, to offset: UInt64, length: Int, through pipe: PipePair) async throws -> Int {
        var copied = 0
        let window = pipe.capacity
        do {
            while copied < length {
                let moved = try await source.splice(into: pipe, from: sourceOffset + UInt64(copied), length: min(window, length - copied))
                if moved == 0 { break }
                var drained = 0
                while drained < moved {
                    let n = try await splice(from: pipe, to: offset + UInt64(copied + drained), length: moved - drained)
                    if n == 0 { throw IOError(operation: "splice", path: path, errno: .noSpace) }
                    drained += n
                }
                copied += moved
            }
        } catch {
            pipe.discardContents()
            throw error
        }
        return copied
    }
}

/// `F_SETPIPE_SZ` and `F_GETPIPE_SZ` (linux/fcntl.h), which Swift's Glibc module does not import.
private let pipeSetSize: Int32 = 1031
private let pipeGetSize: Int32 = 1032
