/// Parses client requests incrementally, as redis's `processMultibulkBuffer` does: the words of
/// an array still arriving are kept between reads, so each received byte is parsed once however
/// the request is split. (Parsing again from the start on every read made a 1,048,576-element
/// request sent in 2,000-byte writes cost seconds of CPU and stall every other client.)
///
/// A request is an array of bulk strings (what every client library sends) or an inline
/// command (`PING\r\n`). As in redis, an array element of another type is a protocol error and
/// an empty or null array (`*0`, `*-1`) is skipped without a reply.
public struct RequestParser: Sendable {
    /// Bounds on bulk lengths, array counts and line lengths.
    public var limits: FrameParser
    /// The most bytes one request may take, counting what is buffered behind it: redis's
    /// `client-query-buffer-limit` (1 GiB by default). A client over it is disconnected.
    public var maxRequestSize: Int

    /// The words of the array being received.
    private var words: [[UInt8]] = []
    /// How many of its words are still to come (0: between requests).
    private var remaining = 0
    /// Bytes of that request consumed by earlier calls.
    private var consumedBefore = 0

    /// A `*COUNT` or `$LENGTH` line is a sign and at most 19 digits: anything longer is invalid,
    /// and looking no further keeps a header arriving a byte at a time cheap.
    private static let maxHeaderLength = 32

    public init(limits: FrameParser = FrameParser(), maxRequestSize: Int = 1 << 30) {
        self.limits = limits
        self.maxRequestSize = maxRequestSize
    }

    /// Whether a request has been started but not finished (some of its bytes are consumed).
    public var isInsideRequest: Bool { remaining > 0 }

    /// Parses from the start of `bytes`, which follow whatever earlier calls consumed. Returns a
    /// request if one is complete, and how many bytes were used either way: the caller drops
    /// them, they are never looked at again.
    public mutating func parse(_ bytes: UnsafeRawBufferPointer) throws(ProtocolError) -> (request: FrameParser.Request?, consumed: Int) {
        var cursor = 0
        var requestStart = 0
        if remaining == 0 {
            while true {
                guard cursor < bytes.count else { return (nil, cursor) }
                requestStart = cursor
                guard bytes[cursor] == UInt8(ascii: "*") else {
                    // An inline command (or a lone typed value, refused by the command decoder).
                    let rest = UnsafeRawBufferPointer(rebasing: bytes[cursor...])
                    guard case .frame(let frame, let used) = try limits.parse(rest) else {
                        try checkSize(rest.count)
                        return (nil, cursor)
                    }
                    return (.frame(frame), cursor + used)
                }
                guard let header = try limits.readLine(bytes, from: cursor + 1, maxLength: Self.maxHeaderLength) else {
                    try checkSize(bytes.count - cursor)
                    return (nil, cursor)
                }
                let count = try limits.arrayCount(bytes, header)
                cursor = header.next
                guard count > 0 else { continue }
                remaining = Int(count)
                consumedBefore = 0
                // Reserve for what has arrived, not for what the header claims: every word
                // takes at least 6 bytes (`$0\r\n\r\n`).
                words.reserveCapacity(min(remaining, (bytes.count - cursor) / 6 + 1))
                break
            }
        }
        parsing: while remaining > 0, cursor < bytes.count {
            guard bytes[cursor] == UInt8(ascii: "$") else {
                throw ProtocolError("expected '$', got '\(limits.printable(bytes[cursor]))'")
            }
            guard let line = try limits.readLine(bytes, from: cursor + 1, maxLength: Self.maxHeaderLength) else { break }
            switch try limits.bulkBody(bytes, after: line) {
            case .incomplete:
                break parsing
            case .null:
                throw ProtocolError("invalid bulk length")
            case .bytes(let range, let next):
                words.append(Array(UnsafeRawBufferPointer(rebasing: bytes[range])))
                cursor = next
                remaining -= 1
            }
        }
        if remaining == 0 {
            defer { words = [] }
            return (.words(words), cursor)
        }
        consumedBefore += cursor - requestStart
        try checkSize(consumedBefore + bytes.count - cursor)
        return (nil, cursor)
    }

    /// Parses one request from the start of `bytes` with no earlier state (for tests and tools):
    /// nil if it is not complete.
    public static func request(in bytes: UnsafeRawBufferPointer, limits: FrameParser = FrameParser()) throws(ProtocolError) -> (
        FrameParser.Request, consumed: Int
    )? {
        var parser = RequestParser(limits: limits)
        let (request, consumed) = try parser.parse(bytes)
        return request.map { ($0, consumed) }
    }

    private func checkSize(_ size: Int) throws(ProtocolError) {
        if size > maxRequestSize { throw ProtocolError("request over the client query buffer limit (\(maxRequestSize) bytes)") }
    }
}

extension FrameParser {
    /// What a client sent: the usual array of bulk strings as its words (the fast path: no
    /// `Frame` values are built), or an inline command or lone value as a frame.
    public enum Request: Sendable, Equatable {
        case words([[UInt8]])
        case frame(Frame)
    }
}
