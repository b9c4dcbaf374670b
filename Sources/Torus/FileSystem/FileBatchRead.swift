import Glibc
import SystemPackage
import TorusChannels
import TorusRing

/// One read of a batch (``File/read(_:)``): up to ``maxLength`` bytes of the file at
/// ``offset``, appended to ``buffer`` at its ``IOBuffer/count``.
public struct FileReadRequest {
    /// Where the bytes go: appended after the buffer's valid bytes.
    public var buffer: IOBuffer
    /// The file offset to read from (`pread`: the file position does not move).
    public var offset: UInt64
    /// At most this many bytes (nil: the buffer's free capacity).
    public var maxLength: Int?

    /// A read of up to `maxLength` bytes (default: all the free room of `buffer`) at `offset`.
    public init(into buffer: IOBuffer, at offset: UInt64, maxLength: Int? = nil) {
        self.buffer = buffer
        self.offset = offset
        self.maxLength = maxLength
    }
}

extension File {
    /// Reads several ranges at once: one read per request, all submitted together, and the
    /// task suspended once until every one has completed.
    ///
    /// The same work as awaiting ``read(into:at:maxLength:)`` for each request from as many
    /// tasks, minus the Swift runtime's cost per await (a continuation, a suspension and a
    /// resumption each), which is most of what Torus adds to a small read: use it where one
    /// task wants many blocks, as a database or an object store does for a multi-get.
    /// Each buffer may appear in one request only (a precondition: two reads appending to one
    /// buffer would overwrite each other).
    ///
    /// Cancel safety: no byte is lost. A task cancelled before the call submits nothing and
    /// gets `CancellationError`. Once submitted, the reads of a regular file or block device
    /// complete whatever happens, and each one's bytes are appended to its buffer and counted,
    /// even when the call throws (a deadline scope that cancelled some of them, or one read that
    /// failed): every buffer's ``IOBuffer/count`` always says what was read into it. Inside a
    /// deadline or token scope (``withTimeout(_:isolation:_:)``, ``CancellationToken``) the scope
    /// can cancel the reads still in flight, as it can a single one. On a FIFO, terminal or other
    /// character device, whose reads may wait for ever, the requests are read one after another
    /// (a pipe ignores the offsets), each cancellable as ``read(into:maxLength:)`` is: a
    /// cancelled call keeps what the reads before it took.
    /// - Returns: the bytes read for each request, in order (fewer than asked at the end of the
    ///   file).
    /// - Throws: the first failure in request order: ``IOError`` naming `read` and the file's
    ///   path (`EINVAL` for an offset past 2^63 - 1), `CancellationError` (``TimeoutError`` from
    ///   a deadline scope), or ``RuntimeError/notOnRuntimeThread(operation:)`` off a Torus core.
    public func read(_ requests: [FileReadRequest]) async throws -> [Int] {
        try await readBatch(requests)
    }

    nonisolated(nonsending) private func readBatch(_ requests: [FileReadRequest]) async throws -> [Int] {
        try checkWaitCancellation()
        precondition(haveDistinctBuffers(requests), "read(_:): a buffer appears in two requests of one batch")
        let fd = try borrowDescriptor(for: "read")
        guard completesPromptly(fd) else {
            sharedDescriptor.giveBack()
            return try await readOneByOne(requests)
        }
        defer { sharedDescriptor.giveBack() }
        guard let core = Core.current else { throw RuntimeError.notOnRuntimeThread(operation: "read") }

        // Each read's target and length, taken once. A zero-length read is 0 without the
        // kernel, an injected failure (tests) its -errno; the rest are submitted, in order
        // (`submitted` maps members to requests only when some are left out).
        var reads: [PlannedRead] = []
        reads.reserveCapacity(requests.count)
        var settled: [Int32?]?  // made only when some request is not submitted
        for (index, request) in requests.enumerated() {
            let buffer = request.buffer
            let free = buffer.freeCapacity
            var length = min(request.maxLength ?? free, free, maximumTransfer)
            // Past 2^63 - 1 the ring would take the offset as "at the file position" (-1) or as
            // negative: EINVAL, as pread gives.
            var outcome: Int32? = request.offset > UInt64(Int64.max) ? -EINVAL : nil
            // A zero-length read never reaches the kernel, nor a fault rule (as the single read).
            switch length > 0 && outcome == nil ? FaultInjection.fault(for: "read", path: path) : nil {
            case .fail(let error)?: outcome = -error.rawValue
            case .short(let limit)?: length = min(length, limit)
            case nil: break
            }
            if length <= 0, outcome == nil { outcome = 0 }
            if let outcome {
                if settled == nil { settled = [Int32?](repeating: nil, count: requests.count) }
                settled![index] = outcome
            }
            reads.append(PlannedRead(target: buffer.storage + buffer.count, length: UInt32(clamping: max(length, 0)), offset: request.offset))
        }
        let submitted = settled.map { settled in requests.indices.filter { settled[$0] == nil } }
        // SAFETY: the batch keeps `requests`, and so every buffer, alive until the last read's
        // final completion.
        let completions = await core.submitBatchAndAwait(count: submitted?.count ?? requests.count, keepAlive: requests) { entry, member in
            let read = reads[submitted?[member] ?? member]
            entry.prepareRead(fd: fd, buffer: read.target, length: read.length, offset: read.offset)
        }
        guard let submitted else { return try await settle(requests, results: completions, core: core) }
        var results = settled!.map { $0 ?? 0 }
        for (member, index) in submitted.enumerated() { results[index] = completions[member] }
        return try await settle(requests, results: results, core: core)
    }

    /// Appends each successful read to its buffer, retries the interrupted ones one by one,
    /// and throws the first failure in request order once every byte read is accounted for.
    nonisolated(nonsending) private func settle(_ requests: [FileReadRequest], results: [Int32], core: Core) async throws -> [Int] {
        var counts = [Int](repeating: 0, count: requests.count)
        var firstFailure: (any Error)?
        for (index, result) in results.enumerated() {
            let request = requests[index]
            if result >= 0 {
                request.buffer.count += Int(result)
                counts[index] = Int(result)
                continue
            }
            switch -result {
            case EINTR, EAGAIN, kernelRestartErrorCodes,
                ECANCELED where !sharedDescriptor.isClosing && !isWaitCancelled && !core.stopping:
                // Rare on files: an io-wq read interrupted, or cancelled by the close of a
                // duplicate of this file (see `ringIO`). The single read retries it, or reports
                // the cancellation or the close that stopped it.
                do {
                    counts[index] = try await readOne(request)
                } catch {
                    firstFailure = firstFailure ?? error
                }
            default:
                firstFailure = firstFailure ?? ringFailure(-result, operation: "read", path: path, address: nil, on: core)
            }
        }
        if let firstFailure { throw firstFailure }
        return counts
    }

    /// The requests one at a time, through the single read (FIFOs and terminals, where a read
    /// may wait for ever and must stay cancellable).
    nonisolated(nonsending) private func readOneByOne(_ requests: [FileReadRequest]) async throws -> [Int] {
        var counts: [Int] = []
        counts.reserveCapacity(requests.count)
        for request in requests {
            counts.append(try await readOne(request))
        }
        return counts
    }
}

extension File {
    /// One request through the single read.
    nonisolated(nonsending) fileprivate func readOne(_ request: FileReadRequest) async throws -> Int {
        try await read(into: request.buffer, maxLength: request.maxLength ?? request.buffer.freeCapacity, offset: request.offset)
    }
}

/// One read of a batch as submitted: where its bytes go, how many, from where.
private struct PlannedRead {
    var target: UnsafeMutableRawPointer
    var length: UInt32
    var offset: UInt64
}

/// Whether no buffer appears in two requests: their addresses sorted in scratch memory on the
/// stack (a set would hash and allocate for every batch).
private func haveDistinctBuffers(_ requests: [FileReadRequest]) -> Bool {
    if requests.count < 2 { return true }
    return withUnsafeTemporaryAllocation(of: ObjectIdentifier.self, capacity: requests.count) { scratch in
        var addresses = scratch  // the same memory (a buffer pointer), as a var to sort it in place
        for (index, request) in requests.enumerated() {
            (addresses.baseAddress! + index).initialize(to: ObjectIdentifier(request.buffer))
        }
        addresses.sort()
        for index in 1..<addresses.count where addresses[index] == addresses[index - 1] { return false }
        return true
    }
}
