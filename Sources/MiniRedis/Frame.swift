/// One RESP2 value: what travels between a redis client and server.
///
/// Commands are arrays of bulk strings; replies are any of these.
public enum Frame: Sendable, Equatable {
    /// `+OK\r\n`: a short status line (no CR or LF inside).
    case simple(String)
    /// `-ERR message\r\n`: an error reply (a CR or LF inside is sent as a space).
    case error(String)
    /// `:42\r\n`
    case integer(Int64)
    /// `$3\r\nbar\r\n`: binary-safe bytes.
    case bulk([UInt8])
    /// `$-1\r\n` (or `*-1\r\n`): no value.
    case null
    /// `*2\r\n...`: a sequence of frames.
    case array([Frame])

    /// A bulk string holding `text`'s UTF-8 bytes.
    public static func bulk(_ text: String) -> Frame { .bulk(Array(text.utf8)) }

    /// Appends this frame's wire form to `output`.
    public func encode(into output: inout [UInt8]) {
        switch self {
        case .simple(let text):
            output.append(UInt8(ascii: "+"))
            output.append(contentsOf: text.utf8)
            output.appendLineEnd()
        case .error(let text):
            output.append(UInt8(ascii: "-"))
            // Error messages quote what the client sent (an unknown command's name): a CR or
            // LF in it would end the line early and let the client forge replies. Redis maps
            // both to spaces (addReplyErrorLength); so do we, here, for every error.
            for byte in text.utf8 { output.append(byte == 13 || byte == 10 ? UInt8(ascii: " ") : byte) }
            output.appendLineEnd()
        case .integer(let value):
            output.append(UInt8(ascii: ":"))
            output.appendDecimal(value)
            output.appendLineEnd()
        case .bulk(let bytes):
            output.append(UInt8(ascii: "$"))
            output.appendDecimal(Int64(bytes.count))
            output.appendLineEnd()
            output.append(contentsOf: bytes)
            output.appendLineEnd()
        case .null:
            output.append(contentsOf: [UInt8(ascii: "$"), UInt8(ascii: "-"), UInt8(ascii: "1")])
            output.appendLineEnd()
        case .array(let frames):
            output.append(UInt8(ascii: "*"))
            output.appendDecimal(Int64(frames.count))
            output.appendLineEnd()
            for frame in frames { frame.encode(into: &output) }
        }
    }

    /// The wire form as a new array.
    public var encoded: [UInt8] {
        var output: [UInt8] = []
        encode(into: &output)
        return output
    }
}

extension Frame: CustomStringConvertible {
    /// How `redis-cli` would show the frame, on one line.
    public var description: String {
        switch self {
        case .simple(let text): return text
        case .error(let text): return "(error) \(text)"
        case .integer(let value): return "(integer) \(value)"
        case .bulk(let bytes): return "\"\(String(decoding: bytes, as: UTF8.self))\""
        case .null: return "(nil)"
        case .array(let frames): return "[" + frames.map(\.description).joined(separator: ", ") + "]"
        }
    }
}

extension [UInt8] {
    @inline(__always) mutating func appendLineEnd() {
        append(13)
        append(10)
    }

    /// Appends the decimal digits of `value` without going through `String`.
    mutating func appendDecimal(_ value: Int64) {
        if value < 0 { append(UInt8(ascii: "-")) }
        var magnitude = value.magnitude
        var width = 1
        var probe = magnitude
        while probe >= 10 {
            probe /= 10
            width += 1
        }
        append(contentsOf: repeatElement(0, count: width))
        var index = count - 1
        repeat {
            self[index] = UInt8(ascii: "0") + UInt8(magnitude % 10)
            magnitude /= 10
            index -= 1
        } while magnitude > 0
    }
}
