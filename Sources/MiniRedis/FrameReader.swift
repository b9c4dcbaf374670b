import Torus

/// Reads RESP frames from a byte stream through one receive buffer per connection, allocated
/// once and grown only for a frame that does not fit.
public final class FrameReader<Source: AsyncReader> {
    public let source: Source
    private var input: IOBuffer
    private let parser = FrameParser()

    public init(_ source: Source, bufferSize: Int = 16 << 10) {
        self.source = source
        input = IOBuffer(capacity: bufferSize)
    }

    /// A whole frame already in the receive buffer, without reading: lets a server answer
    /// every pipelined command before it flushes once.
    public func bufferedFrame() throws(ProtocolError) -> Frame? {
        guard input.count > 0 else { return nil }
        let parser = self.parser
        let outcome = try input.withUnsafeBytes { bytes in
            Result { () throws(ProtocolError) in try parser.parse(bytes) }
        }.get()
        guard case .frame(let frame, let consumed) = outcome else { return nil }
        input.removeFirst(consumed)
        return frame
    }

    /// A whole request already in the receive buffer (see ``FrameParser/parseRequest(_:)``).
    public func bufferedRequest() throws(ProtocolError) -> FrameParser.Request? {
        guard input.count > 0 else { return nil }
        let parser = self.parser
        let found = try input.withUnsafeBytes { bytes in
            Result { () throws(ProtocolError) in try parser.parseRequest(bytes) }
        }.get()
        guard let (request, consumed) = found else { return nil }
        input.removeFirst(consumed)
        return request
    }

    /// The next request, reading as needed; nil when the peer closed cleanly between requests.
    public func readRequest() async throws -> FrameParser.Request? {
        while true {
            if let request = try bufferedRequest() { return request }
            guard try await fill() else {
                if input.count == 0 { return nil }
                throw ProtocolError("connection closed in the middle of a frame")
            }
        }
    }

    /// Reads more into the buffer (growing it when full); false at the end of the stream.
    private func fill() async throws -> Bool {
        if input.freeCapacity == 0 {
            // A frame bigger than the buffer (a large value): grow to fit it. The parser
            // bounds frame sizes, so this cannot grow without limit.
            let bigger = IOBuffer(capacity: input.capacity * 2)
            input.withUnsafeBytes { bigger.append($0) }
            input = bigger
        }
        return try await source.read(into: input) > 0
    }

    /// The next frame, reading as needed; nil when the peer closed cleanly between frames.
    /// - Throws: ``ProtocolError`` for malformed input or a stream that ends inside a frame,
    ///   and the stream's own errors.
    public func readFrame() async throws -> Frame? {
        while true {
            if let frame = try bufferedFrame() { return frame }
            guard try await fill() else {
                if input.count == 0 { return nil }
                throw ProtocolError("connection closed in the middle of a frame")
            }
        }
    }
}
