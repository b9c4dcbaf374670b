import Glibc

/// Malformed RESP: the reason is sent back to the client as `-ERR Protocol error: <reason>`.
public struct ProtocolError: Error, Sendable, Equatable, CustomStringConvertible {
    public var reason: String
    public init(_ reason: String) { self.reason = reason }
    public var description: String { "Protocol error: \(reason)" }
}

/// Parses RESP2 frames out of received bytes, one at a time, without copying what is not
/// yet complete: it either finds a whole frame at the start of the bytes or says to read more.
///
/// Besides RESP arrays it accepts inline commands (`PING\r\n`, as typed into telnet), like redis.
/// Sizes are bounded as redis bounds them, so a hostile peer cannot make the server allocate
/// without limit.
public struct FrameParser: Sendable {
    /// The largest bulk string accepted (redis's `proto-max-bulk-len` default).
    public var maxBulkLength = 512 << 20
    /// The most elements an array may announce.
    public var maxArrayCount = 1 << 20
    /// The longest header or inline line before a CRLF must appear.
    public var maxLineLength = 64 << 10
    /// How deeply arrays may nest.
    public var maxDepth = 8

    public init() {}

    /// The outcome of looking at the start of a byte buffer.
    public enum Outcome: Sendable, Equatable {
        /// A whole frame, and how many bytes it used.
        case frame(Frame, consumed: Int)
        /// The bytes end inside a frame: read more and try again.
        case incomplete
    }

    /// Looks for one frame at the start of `bytes`.
    public func parse(_ bytes: UnsafeRawBufferPointer) throws(ProtocolError) -> Outcome {
        guard !bytes.isEmpty else { return .incomplete }
        var cursor = 0
        let first = bytes[0]
        let isTyped =
            first == UInt8(ascii: "*") || first == UInt8(ascii: "$") || first == UInt8(ascii: "+")
            || first == UInt8(ascii: "-") || first == UInt8(ascii: ":")
        let frame: Frame?
        if isTyped {
            frame = try parseValue(bytes, &cursor, depth: 0)
        } else {
            frame = try parseInline(bytes, &cursor)
        }
        guard let frame else { return .incomplete }
        return .frame(frame, consumed: cursor)
    }

    /// Convenience for tests and clients holding an array.
    public func parse(_ bytes: [UInt8]) throws(ProtocolError) -> Outcome {
        try bytes.withUnsafeBytes { raw in Result { () throws(ProtocolError) in try parse(raw) } }.get()
    }

    private func parseValue(_ bytes: UnsafeRawBufferPointer, _ cursor: inout Int, depth: Int) throws(ProtocolError) -> Frame? {
        guard cursor < bytes.count else { return nil }
        let type = bytes[cursor]
        guard let line = try readLine(bytes, from: cursor + 1) else { return nil }
        switch type {
        case UInt8(ascii: "+"):
            cursor = line.next
            return .simple(String(decoding: bytes[line.range], as: UTF8.self))
        case UInt8(ascii: "-"):
            cursor = line.next
            return .error(String(decoding: bytes[line.range], as: UTF8.self))
        case UInt8(ascii: ":"):
            guard let value = decimal(bytes, line.range) else { throw ProtocolError("invalid integer") }
            cursor = line.next
            return .integer(value)
        case UInt8(ascii: "$"):
            switch try bulkBody(bytes, after: line) {
            case .incomplete:
                return nil
            case .null(let next):
                cursor = next
                return .null
            case .bytes(let range, let next):
                cursor = next
                return .bulk(Array(bytes[range]))
            }
        case UInt8(ascii: "*"):
            let count = try arrayCount(bytes, line)
            if count == -1 {
                cursor = line.next
                return .null
            }
            guard depth < maxDepth else { throw ProtocolError("arrays nested too deeply") }
            var position = line.next
            var elements: [Frame] = []
            elements.reserveCapacity(min(Int(count), 1024))
            for _ in 0..<count {
                guard let element = try parseValue(bytes, &position, depth: depth + 1) else { return nil }
                elements.append(element)
            }
            cursor = position
            return .array(elements)
        default:
            throw ProtocolError("expected '$', got '\(printable(type))'")
        }
    }

    /// An inline command: words separated by spaces, ended by LF (CRLF tolerated).
    private func parseInline(_ bytes: UnsafeRawBufferPointer, _ cursor: inout Int) throws(ProtocolError) -> Frame? {
        let limit = min(bytes.count, maxLineLength)
        // memchr: a line that arrives a byte at a time is searched again on every read.
        guard let found = memchr(bytes.baseAddress!, 10, limit) else {
            if bytes.count >= maxLineLength { throw ProtocolError("too big inline request") }
            return nil
        }
        let newline = bytes.baseAddress!.distance(to: UnsafeRawPointer(found))
        var end = newline
        if end > 0 && bytes[end - 1] == 13 { end -= 1 }
        let words = bytes[0..<end].split(separator: UInt8(ascii: " "), omittingEmptySubsequences: true)
        cursor = newline + 1
        return .array(words.map { .bulk(Array($0)) })
    }

    /// Where a bulk string's body is, given its `$LENGTH` line.
    enum BulkBody {
        case null(next: Int)
        case bytes(Range<Int>, next: Int)
        case incomplete
    }

    func bulkBody(_ bytes: UnsafeRawBufferPointer, after line: (range: Range<Int>, next: Int)) throws(ProtocolError) -> BulkBody {
        guard let length = decimal(bytes, line.range), length >= -1, length <= maxBulkLength else {
            throw ProtocolError("invalid bulk length")
        }
        if length == -1 { return .null(next: line.next) }
        let end = line.next + Int(length)
        guard end + 2 <= bytes.count else { return .incomplete }
        guard bytes[end] == 13, bytes[end + 1] == 10 else { throw ProtocolError("bulk string not terminated by CRLF") }
        return .bytes(line.next..<end, next: end + 2)
    }

    /// The element count of an array from its `*COUNT` line (-1: the null array).
    func arrayCount(_ bytes: UnsafeRawBufferPointer, _ line: (range: Range<Int>, next: Int)) throws(ProtocolError) -> Int64 {
        guard let count = decimal(bytes, line.range), count >= -1, count <= maxArrayCount else {
            throw ProtocolError("invalid multibulk length")
        }
        return count
    }

    /// The line starting at `start` up to CRLF: its byte range and where the next begins.
    /// - Parameter maxLength: how far to look for the CRLF (``maxLineLength`` unless a shorter
    ///   line is all that can be valid, like a length header).
    func readLine(_ bytes: UnsafeRawBufferPointer, from start: Int, maxLength: Int? = nil) throws(ProtocolError) -> (range: Range<Int>, next: Int)? {
        let maxLineLength = maxLength ?? self.maxLineLength
        var index = start
        let limit = min(bytes.count, start + maxLineLength)
        while index + 1 < limit {
            if bytes[index] == 13 {
                guard bytes[index + 1] == 10 else { throw ProtocolError("expected LF after CR") }
                return (start..<index, index + 2)
            }
            index += 1
        }
        if bytes.count - start >= maxLineLength { throw ProtocolError("line too long") }
        return nil
    }

    func decimal(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>) -> Int64? {
        guard !range.isEmpty, range.count <= 20 else { return nil }
        var index = range.lowerBound
        var negative = false
        if bytes[index] == UInt8(ascii: "-") {
            negative = true
            index += 1
            guard index < range.upperBound else { return nil }
        }
        var value: Int64 = 0
        while index < range.upperBound {
            let byte = bytes[index]
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
            let (times, overflow1) = value.multipliedReportingOverflow(by: 10)
            let (sum, overflow2) = times.addingReportingOverflow(Int64(byte - UInt8(ascii: "0")))
            guard !overflow1, !overflow2 else { return nil }
            value = sum
            index += 1
        }
        return negative ? -value : value
    }

    func printable(_ byte: UInt8) -> String {
        byte >= 0x20 && byte < 0x7f ? String(UnicodeScalar(byte)) : "\\x" + String(byte, radix: 16)
    }
}
