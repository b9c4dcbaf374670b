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
        try take { parser, bytes throws(ProtocolError) in
            guard case .frame(let frame, let consumed) = try parser.parse(bytes) else { return nil }
            return (frame, consumed)
        }
    }

    /// A whole request already in the receive buffer (see ``FrameParser/parseRequest(_:)``).
    public func bufferedRequest() throws(ProtocolError) -> FrameParser.Request? {
        try take { parser, bytes throws(ProtocolError) in try parser.parseRequest(bytes) }
    }

    /// The next frame, reading as needed; nil when the peer closed cleanly between frames.
    /// - Throws: ``ProtocolError`` for malformed input or a stream that ends inside a frame,
    ///   and the stream's own errors.
    public func readFrame() async throws -> Frame? {
        try await read(bufferedFrame)
    }

    /// The next request, reading as needed; nil when the peer closed cleanly between requests.
    public func readRequest() async throws -> FrameParser.Request? {
        try await read(bufferedRequest)
    }

    /// Parses one value at the start of the buffer with `parse` and consumes its bytes.
    private func take<Value>(
        _ parse: (FrameParser, UnsafeRawBufferPointer) throws(ProtocolError) -> (Value, consumed: Int)?
    ) throws(ProtocolError) -> Value? {
        guard input.count > 0 else { return nil }
        let parser = self.parser
        let found = try input.withUnsafeBytes { bytes in
            Result { () throws(ProtocolError) in try parse(parser, bytes) }
        }.get()
        guard let (value, consumed) = found else { return nil }
        input.removeFirst(consumed)
        return value
    }

    /// Reads until `buffered` finds a whole value; nil at a clean end of the stream.
    private func read<Value>(_ buffered: () throws(ProtocolError) -> Value?) async throws -> Value? {
        while true {
            if let value = try buffered() { return value }
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
}
