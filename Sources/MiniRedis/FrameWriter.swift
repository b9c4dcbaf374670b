import Torus

/// Writes RESP frames to a byte stream. Replies are queued with ``queue(_:)`` and sent together
/// by ``flush()``: a pipelining client that sent ten commands in one segment gets ten replies
/// in one write.
public final class FrameWriter<Sink: AsyncWriter> {
    public let sink: Sink
    // Unchecked exclusivity: only the connection's task touches a writer, and no access
    // overlaps another (the dynamic checks showed in a pipelined server's profile).
    @exclusivity(unchecked) private var output: [UInt8] = []
    private let buffer: IOBuffer
    /// Bytes written so far (a server's `total_net_output_bytes`).
    @exclusivity(unchecked) public private(set) var bytesWritten: UInt64 = 0

    public init(_ sink: Sink, bufferSize: Int = 16 << 10) {
        self.sink = sink
        buffer = IOBuffer(capacity: bufferSize)
        output.reserveCapacity(bufferSize)
    }

    /// Adds a frame to the pending output.
    public func queue(_ frame: Frame) { frame.encode(into: &output) }

    /// Adds a frame encoded earlier (one encoding shared by many connections).
    public func queue(encoded frame: [UInt8]) { output.append(contentsOf: frame) }

    /// Whether frames are waiting for ``flush()``.
    public var hasPendingOutput: Bool { !output.isEmpty }

    /// Writes every queued frame.
    public func flush() async throws {
        var offset = 0
        while offset < output.count {
            let chunk = min(output.count - offset, buffer.capacity)
            buffer.clear()
            output.withUnsafeBytes { bytes in buffer.append(bytes[offset..<offset + chunk]) }
            try await sink.writeAll(buffer)
            bytesWritten &+= UInt64(chunk)
            offset += chunk
        }
        // Keep the usual reply buffer; give back a huge one (a large GET) after use.
        output.removeAll(keepingCapacity: output.capacity <= 1 << 20)
    }

    /// Hands every queued frame to `queue` (a copy) without waiting for the kernel to take
    /// them, unless the queue is at its limit (see ``SendQueue``): a server answering one
    /// request at a time then pays one task resumption per request, the read's, instead of
    /// two. The bytes count as written once the queue has them.
    public func flush(into queue: SendQueue) async throws {
        try await flushOnQueueCore(into: queue)
    }

    /// ``flush(into:)`` where it is called, without an executor switch: for a caller that runs
    /// on the queue's core (a server session). The public one is a plain `async` function, whose
    /// entry puts an actor's call on the task's core, where a send queue must be used.
    nonisolated(nonsending) func flushOnQueueCore(into queue: SendQueue) async throws {
        guard !output.isEmpty else { return }
        try await queue.send(output)
        bytesWritten &+= UInt64(output.count)
        output.removeAll(keepingCapacity: output.capacity <= 1 << 20)
    }

    /// Queues `frame` and flushes.
    public func write(_ frame: Frame) async throws {
        queue(frame)
        try await flush()
    }
}
