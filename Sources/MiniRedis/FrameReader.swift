import Torus

/// Reads RESP frames from a byte stream through one receive buffer per connection, allocated
/// once and grown only for a frame that does not fit.
///
/// Bytes are parsed once: requests through a resumable ``RequestParser`` that keeps the words
/// of a request still arriving, and a read position that advances past parsed bytes (the
/// buffer is compacted only before the next read, not after every pipelined command).
public final class FrameReader<Source: AsyncReader> {
    public let source: Source
    // Unchecked exclusivity (here and below): only the connection's task touches a reader, and
    // no access overlaps another; the dynamic checks were 3% of a pipelined server's CPU.
    @exclusivity(unchecked) private var input: IOBuffer
    /// Bytes at the front of `input` already parsed.
    @exclusivity(unchecked) private var start = 0
    private let initialSize: Int
    private let parser = FrameParser()
    @exclusivity(unchecked) private var requests: RequestParser
    /// Reads that returned bytes so far (an idle-client sweep compares it between sweeps).
    @exclusivity(unchecked) public private(set) var reads = 0
    /// Bytes received so far (a server's `total_net_input_bytes`).
    @exclusivity(unchecked) public private(set) var bytesRead: UInt64 = 0

    /// A buffer grown past this for a large request is given back once it is empty (redis
    /// shrinks idle query buffers too), so a connection does not keep its peak forever.
    private static var largestKeptBuffer: Int { 1 << 20 }

    public init(_ source: Source, bufferSize: Int = 16 << 10, requests: RequestParser = RequestParser()) {
        self.source = source
        input = IOBuffer(capacity: bufferSize)
        initialSize = bufferSize
        self.requests = requests
    }

    /// A whole frame already in the receive buffer, without reading: lets a server answer
    /// every pipelined command before it flushes once.
    public func bufferedFrame() throws(ProtocolError) -> Frame? {
        guard start < input.count else { return nil }
        let parser = self.parser
        let start = self.start
        let outcome = try input.withUnsafeBytes { bytes in
            Result { () throws(ProtocolError) in try parser.parse(UnsafeRawBufferPointer(rebasing: bytes[start...])) }
        }.get()
        guard case .frame(let frame, let consumed) = outcome else { return nil }
        advance(by: consumed)
        return frame
    }

    /// A whole request already in the receive buffer (see ``RequestParser``); the parts of a
    /// request still arriving are kept, not parsed again.
    public func bufferedRequest() throws(ProtocolError) -> FrameParser.Request? {
        guard start < input.count else { return nil }
        let start = self.start
        let (request, consumed) = try input.withUnsafeBytes { bytes in
            Result { () throws(ProtocolError) in try self.requests.parse(UnsafeRawBufferPointer(rebasing: bytes[start...])) }
        }.get()
        advance(by: consumed)
        return request
    }

    /// The next frame, reading as needed; nil when the peer closed cleanly between frames.
    /// - Throws: ``ProtocolError`` for malformed input or a stream that ends inside a frame,
    ///   and the stream's own errors.
    public func readFrame() async throws -> Frame? {
        while true {
            if let frame = try bufferedFrame() { return frame }
            guard try await fillUnlessEnded() else { return nil }
        }
    }

    /// The next request, reading as needed; nil when the peer closed cleanly between requests.
    public func readRequest() async throws -> FrameParser.Request? {
        while true {
            if let request = try bufferedRequest() { return request }
            guard try await fillUnlessEnded() else { return nil }
        }
    }

    private func advance(by consumed: Int) {
        start += consumed
        guard start == input.count else { return }
        start = 0
        if input.capacity > Self.largestKeptBuffer {
            input = IOBuffer(capacity: initialSize)
        } else {
            input.clear()
        }
    }

    /// Reads more (through ``AsyncReader``); false at a clean end of the stream (between frames).
    ///
    /// The read loops above are written out rather than shared through a generic helper taking
    /// the parse step as a typed-throws closure: Swift 6.3's optimizer crashed (signal 11 while
    /// splitting the coroutine) on that helper specialised for TCPStream in release builds.
    /// - Throws: ``ProtocolError`` when the stream ends inside a frame.
    private func fillUnlessEnded() async throws -> Bool {
        makeRoom()
        let count = try await source.read(into: input)
        return try counted(count)
    }

    /// Drops parsed bytes, and grows the buffer when it is full, before a read.
    private func makeRoom() {
        if start > 0 {
            input.removeFirst(start)
            start = 0
        }
        if input.freeCapacity == 0 {
            // One element bigger than the buffer (a large value): grow to fit it. The parser
            // bounds element and request sizes, so this cannot grow without limit, and the
            // buffer only grows as bytes arrive, never to what a header merely announces.
            let bigger = IOBuffer(capacity: input.capacity * 2)
            input.withUnsafeBytes { bigger.append($0) }
            input = bigger
        }
    }

    /// Counts a read of `count` bytes; false at a clean end of the stream (between frames).
    /// - Throws: ``ProtocolError`` when the stream ended inside a frame.
    private func counted(_ count: Int) throws(ProtocolError) -> Bool {
        guard count > 0 else {
            if start == input.count && !requests.isInsideRequest { return false }
            throw ProtocolError("connection closed in the middle of a frame")
        }
        reads &+= 1
        bytesRead &+= UInt64(count)
        return true
    }
}

/// A connection's reader (the server's and the client's): the same loops, run where they are
/// called. The generic ones are plain `async` functions, and `TCPStream.read` called through
/// `AsyncReader` is one too: each switches to the task's executor on entry and back after,
/// a `swift_task_switch` that reads the task's executor preference under a lock (4 of the 8
/// switches of a request before, docs/benchmarks.md). A caller on an actor works as well:
/// `TCPStream.read` then receives on the task's core and appends on the actor.
extension FrameReader where Source == TCPStream {
    /// The next frame, reading as needed; nil when the peer closed cleanly between frames.
    /// - Throws: as the generic ``FrameReader/readFrame()``.
    public nonisolated(nonsending) func readFrame() async throws -> Frame? {
        while true {
            if let frame = try bufferedFrame() { return frame }
            guard try await fillFromStream() else { return nil }
        }
    }

    /// The next request, reading as needed; nil when the peer closed cleanly between requests.
    public nonisolated(nonsending) func readRequest() async throws -> FrameParser.Request? {
        while true {
            if let request = try bufferedRequest() { return request }
            guard try await fillFromStream() else { return nil }
        }
    }

    private nonisolated(nonsending) func fillFromStream() async throws -> Bool {
        makeRoom()
        let count = try await source.read(into: input, maxLength: input.freeCapacity)
        return try counted(count)
    }
}
