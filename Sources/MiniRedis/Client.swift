import Torus

/// An async mini-redis client: one connection, one request at a time.
///
/// ```swift
/// let client = try await Client.connect(to: "localhost:6379")
/// try await client.set("hello", "world")
/// let value = try await client.get("hello")   // Array("world".utf8)
/// ```
///
/// `Client` is deliberately not `Sendable`: a request and its reply must not interleave with
/// another task's, so the compiler stops two tasks from sharing one client. To share a
/// connection, give it to a manager task and send it commands over a channel (tutorial
/// chapter 4), or wrap it as ``BlockingClient`` does.
public final class Client {
    let stream: TCPStream
    let reader: FrameReader<TCPStream>
    let writer: FrameWriter<TCPStream>
    /// The server's address.
    public let address: SocketAddress

    init(stream: TCPStream, address: SocketAddress) {
        self.stream = stream
        self.address = address
        reader = FrameReader(stream)
        writer = FrameWriter(stream)
    }

    /// Connects to a server at `address`, written `"localhost:6379"`, `"127.0.0.1:6379"` or
    /// `"[::1]:6379"`: a host name is resolved and its addresses tried as
    /// `TCPStream.connect(host:port:timeout:)` does. ``address`` is then the address that
    /// answered.
    /// - Parameter timeout: a limit for the whole connection, name resolution included.
    public static func connect(to address: String, timeout: Duration? = .seconds(5)) async throws -> Client {
        let stream = try await TCPStream.connect(to: address, timeout: timeout)
        try stream.setNoDelay(true)
        return Client(stream: stream, address: try stream.peerAddress)
    }

    /// Connects to a server at `address`.
    public static func connect(to address: SocketAddress, timeout: Duration? = .seconds(5)) async throws -> Client {
        let stream = try await TCPStream.connect(to: address, timeout: timeout)
        try stream.setNoDelay(true)
        return Client(stream: stream, address: address)
    }

    /// Sends `command` and returns the reply; error replies throw ``ClientError/server(command:message:)``.
    public func send(_ command: Command) async throws -> Frame {
        try await writer.write(command.frame)
        return try await readReply(for: command.name)
    }

    func readReply(for name: String) async throws -> Frame {
        guard let reply = try await reader.readFrame() else {
            throw ClientError.connectionClosed(command: name, address: address)
        }
        if case .error(let message) = reply { throw ClientError.server(command: name, message: message) }
        return reply
    }

    /// `PING`: the server's `PONG`, or `message` echoed.
    @discardableResult
    public func ping(_ message: [UInt8]? = nil) async throws -> [UInt8] {
        switch try await send(.ping(message: message)) {
        case .simple(let text): return Array(text.utf8)
        case .bulk(let bytes): return bytes
        case let reply: throw ClientError.unexpectedReply(command: "PING", reply: reply)
        }
    }

    /// `GET key`: the value, or nil if there is none.
    public func get(_ key: String) async throws -> [UInt8]? {
        switch try await send(.get(key: Array(key.utf8))) {
        case .bulk(let bytes): return bytes
        case .null: return nil
        case let reply: throw ClientError.unexpectedReply(command: "GET", reply: reply)
        }
    }

    /// `SET key value`, or `SET key value PX ms` with an expiry.
    public func set(_ key: String, _ value: [UInt8], expiringAfter expiry: Duration? = nil) async throws {
        let reply = try await send(.set(key: Array(key.utf8), value: value, expiry: expiry))
        guard case .simple("OK") = reply else { throw ClientError.unexpectedReply(command: "SET", reply: reply) }
    }

    /// `SET key value` with a text value.
    public func set(_ key: String, _ value: String, expiringAfter expiry: Duration? = nil) async throws {
        try await set(key, Array(value.utf8), expiringAfter: expiry)
    }

    /// `DEL key...`: how many of the keys existed.
    @discardableResult
    public func delete(_ keys: String...) async throws -> Int {
        let reply = try await send(.delete(keys: keys.map { Array($0.utf8) }))
        guard case .integer(let count) = reply else { throw ClientError.unexpectedReply(command: "DEL", reply: reply) }
        return Int(count)
    }

    /// `PUBLISH channel message`: how many subscribers received it.
    @discardableResult
    public func publish(_ channel: String, _ message: [UInt8]) async throws -> Int {
        let reply = try await send(.publish(channel: Array(channel.utf8), message: message))
        guard case .integer(let count) = reply else { throw ClientError.unexpectedReply(command: "PUBLISH", reply: reply) }
        return Int(count)
    }

    /// `PUBLISH` with a text message.
    @discardableResult
    public func publish(_ channel: String, _ message: String) async throws -> Int {
        try await publish(channel, Array(message.utf8))
    }

    /// Enters subscriber mode: the connection now only receives messages, so the client is
    /// consumed and becomes a ``Subscriber``.
    public consuming func subscribe(to channels: [String]) async throws -> Subscriber {
        let subscriber = Subscriber(client: self)
        try await subscriber.subscribe(to: channels)
        return subscriber
    }

    /// Closes the connection.
    public func close() async throws { try await stream.close() }
}

extension Command {
    /// The command's name, for error messages.
    public var name: String {
        switch self {
        case .ping: "PING"
        case .get: "GET"
        case .set: "SET"
        case .delete: "DEL"
        case .publish: "PUBLISH"
        case .subscribe: "SUBSCRIBE"
        case .unsubscribe: "UNSUBSCRIBE"
        case .configGet: "CONFIG GET"
        case .info: "INFO"
        }
    }
}
