/// A request the server understands, decoded from a RESP array of bulk strings.
public enum Command: Sendable, Equatable {
    case ping(message: [UInt8]?)
    case get(key: [UInt8])
    case set(key: [UInt8], value: [UInt8], expiry: Duration?)
    case delete(keys: [[UInt8]])
    case publish(channel: [UInt8], message: [UInt8])
    case subscribe(channels: [[UInt8]])
    case unsubscribe(channels: [[UInt8]])
    /// `CONFIG GET name`: answered for the few names redis tools ask about.
    case configGet(name: [UInt8])
    /// `INFO [section ...]`: the server's state in redis's format (``InfoSection``).
    case info(sections: [[UInt8]])

    /// Decodes `frame`; a frame that is not a valid command gives the error reply to send.
    public init(_ frame: Frame) throws(CommandError) {
        guard case .array(let elements) = frame, !elements.isEmpty else {
            throw CommandError("ERR Protocol error: expected an array of bulk strings")
        }
        var arguments: [[UInt8]] = []
        arguments.reserveCapacity(elements.count)
        for element in elements {
            switch element {
            case .bulk(let bytes): arguments.append(bytes)
            case .simple(let text): arguments.append(Array(text.utf8))
            case .integer(let value): arguments.append(Array(String(value).utf8))
            default: throw CommandError("ERR Protocol error: expected an array of bulk strings")
            }
        }
        try self.init(words: arguments)
    }

    /// Decodes a request from what a client sent.
    public init(_ request: FrameParser.Request) throws(CommandError) {
        switch request {
        case .words(let words): try self.init(words: words)
        case .frame(let frame): try self.init(frame)
        }
    }

    /// Decodes a command from its words (the name first).
    public init(words arguments: [[UInt8]]) throws(CommandError) {
        guard !arguments.isEmpty else { throw CommandError("ERR Protocol error: expected an array of bulk strings") }
        let name = CommandName(arguments[0])
        let argumentCount = arguments.count - 1
        func arity(_ valid: Bool) throws(CommandError) {
            if !valid { throw CommandError("ERR wrong number of arguments for '\(name.text.lowercased())' command") }
        }
        switch name {
        case .ping:
            try arity(argumentCount <= 1)
            self = .ping(message: argumentCount == 1 ? arguments[1] : nil)
        case .get:
            try arity(argumentCount == 1)
            self = .get(key: arguments[1])
        case .set:
            try arity(argumentCount >= 2)
            self = .set(key: arguments[1], value: arguments[2], expiry: try Command.expiry(arguments.dropFirst(3)))
        case .del:
            try arity(argumentCount >= 1)
            self = .delete(keys: Array(arguments.dropFirst()))
        case .publish:
            try arity(argumentCount == 2)
            self = .publish(channel: arguments[1], message: arguments[2])
        case .subscribe:
            try arity(argumentCount >= 1)
            self = .subscribe(channels: Array(arguments.dropFirst()))
        case .unsubscribe:
            self = .unsubscribe(channels: Array(arguments.dropFirst()))
        case .config:
            guard argumentCount == 2, String(decoding: arguments[1], as: UTF8.self).uppercased() == "GET" else {
                throw CommandError("ERR only CONFIG GET <name> is supported")
            }
            self = .configGet(name: arguments[2])
        case .info:
            self = .info(sections: Array(arguments.dropFirst()))
        default:
            // Quoted at most 128 bytes each, as redis does (`%.128s`): the reply stays short
            // whatever the client sent.
            func quoted(_ bytes: [UInt8]) -> String { "'" + String(decoding: bytes.prefix(128), as: UTF8.self) + "'" }
            let shown = arguments.dropFirst().prefix(3).map(quoted).joined(separator: " ")
            throw CommandError("ERR unknown command \(quoted(arguments[0])), with args beginning with: \(shown)")
        }
    }

    /// SET's options: `EX seconds` or `PX milliseconds` (positive), nothing else.
    private static func expiry(_ options: ArraySlice<[UInt8]>) throws(CommandError) -> Duration? {
        if options.isEmpty { return nil }
        guard options.count == 2 else { throw CommandError("ERR syntax error") }
        let unit = String(decoding: options[options.startIndex], as: UTF8.self).uppercased()
        guard unit == "EX" || unit == "PX" else { throw CommandError("ERR syntax error") }
        guard let amount = Int64(String(decoding: options[options.startIndex + 1], as: UTF8.self)) else {
            throw CommandError("ERR value is not an integer or out of range")
        }
        guard amount > 0, amount < Int64.max / 1000 else { throw CommandError("ERR invalid expire time in 'set' command") }
        return unit == "EX" ? .seconds(amount) : .milliseconds(amount)
    }

    /// The command as a RESP array, as a client sends it.
    public var frame: Frame {
        func array(_ words: [[UInt8]]) -> Frame { .array(words.map { Frame.bulk($0) }) }
        switch self {
        case .ping(let message): return array([Array("PING".utf8)] + (message.map { [$0] } ?? []))
        case .get(let key): return array([Array("GET".utf8), key])
        case .set(let key, let value, let expiry):
            var words = [Array("SET".utf8), key, value]
            if let expiry {
                let milliseconds = expiry.components.seconds * 1000 + expiry.components.attoseconds / 1_000_000_000_000_000
                words += [Array("PX".utf8), Array(String(milliseconds).utf8)]
            }
            return array(words)
        case .delete(let keys): return array([Array("DEL".utf8)] + keys)
        case .publish(let channel, let message): return array([Array("PUBLISH".utf8), channel, message])
        case .subscribe(let channels): return array([Array("SUBSCRIBE".utf8)] + channels)
        case .unsubscribe(let channels): return array([Array("UNSUBSCRIBE".utf8)] + channels)
        case .configGet(let name): return array([Array("CONFIG".utf8), Array("GET".utf8), name])
        case .info(let sections): return array([Array("INFO".utf8)] + sections)
        }
    }
}

/// A request that cannot be run: `message` is the error reply (`ERR ...`) sent back.
public struct CommandError: Error, Sendable, Equatable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// A command's name, matched without building a `String` (the hot path of every request).
enum CommandName {
    case ping, get, set, del, publish, subscribe, unsubscribe, config, info
    case other(String)

    init(_ bytes: [UInt8]) {
        switch bytes.count {
        case 3:
            if bytes.equalsIgnoringASCIICase("GET") {
                self = .get
                return
            }
            if bytes.equalsIgnoringASCIICase("SET") {
                self = .set
                return
            }
            if bytes.equalsIgnoringASCIICase("DEL") {
                self = .del
                return
            }
        case 4:
            if bytes.equalsIgnoringASCIICase("PING") {
                self = .ping
                return
            }
            if bytes.equalsIgnoringASCIICase("INFO") {
                self = .info
                return
            }
        case 6:
            if bytes.equalsIgnoringASCIICase("CONFIG") {
                self = .config
                return
            }
        case 7:
            if bytes.equalsIgnoringASCIICase("PUBLISH") {
                self = .publish
                return
            }
        case 9:
            if bytes.equalsIgnoringASCIICase("SUBSCRIBE") {
                self = .subscribe
                return
            }
        case 11:
            if bytes.equalsIgnoringASCIICase("UNSUBSCRIBE") {
                self = .unsubscribe
                return
            }
        default:
            break
        }
        self = .other(String(decoding: bytes, as: UTF8.self))
    }

    /// The name as the client sent it, for error messages.
    var text: String {
        switch self {
        case .ping: "ping"
        case .get: "get"
        case .set: "set"
        case .del: "del"
        case .publish: "publish"
        case .subscribe: "subscribe"
        case .unsubscribe: "unsubscribe"
        case .config: "config"
        case .info: "info"
        case .other(let name): name
        }
    }
}

extension [UInt8] {
    /// Whether these bytes spell `word` (ASCII), ignoring case.
    func equalsIgnoringASCIICase(_ word: StaticString) -> Bool {
        guard count == word.utf8CodeUnitCount else { return false }
        let expected = word.utf8Start
        for index in 0..<count {
            let byte = self[index]
            let folded = byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z") ? byte - 32 : byte
            if folded != expected[index] { return false }
        }
        return true
    }
}
