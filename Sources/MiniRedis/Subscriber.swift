import Torus

/// A connection in subscriber mode: iterate it for the messages published to its channels.
///
/// ```swift
/// let subscriber = try await client.subscribe(to: ["news"])
/// for try await message in subscriber {
///     print(message.channel, String(decoding: message.content, as: UTF8.self))
/// }
/// ```
public final class Subscriber: AsyncSequence {
    /// A message published to one of the channels.
    public struct Message: Sendable, Equatable {
        public var channel: String
        public var content: [UInt8]

        public init(channel: String, content: [UInt8]) {
            self.channel = channel
            self.content = content
        }
    }

    private let client: Client
    /// Messages that arrived while waiting for a (un)subscribe confirmation.
    private var early: [Message] = []
    /// The channels subscribed to now.
    public private(set) var channels: [String] = []

    init(client: Client) { self.client = client }

    /// Subscribes to more channels.
    public func subscribe(to channels: [String]) async throws {
        try await client.writer.write(Command.subscribe(channels: channels.map { Array($0.utf8) }).frame)
        for channel in channels {
            try await awaitConfirmation("subscribe", of: channel)
            if !self.channels.contains(channel) { self.channels.append(channel) }
        }
    }

    /// Unsubscribes from `channels` (all of them if empty).
    public func unsubscribe(from channels: [String] = []) async throws {
        let leaving = channels.isEmpty ? self.channels : channels
        guard !leaving.isEmpty else { return }
        try await client.writer.write(Command.unsubscribe(channels: leaving.map { Array($0.utf8) }).frame)
        for channel in leaving {
            try await awaitConfirmation("unsubscribe", of: channel)
            self.channels.removeAll { $0 == channel }
        }
    }

    /// The next message; nil if the server closed the connection.
    public func nextMessage() async throws -> Message? {
        if !early.isEmpty { return early.removeFirst() }
        while true {
            guard let frame = try await client.reader.readFrame() else { return nil }
            if let message = Subscriber.message(in: frame) { return message }
            throw ClientError.unexpectedReply(command: "SUBSCRIBE", reply: frame)
        }
    }

    private func awaitConfirmation(_ kind: String, of channel: String) async throws {
        let command = kind.uppercased()
        while true {
            let frame = try await client.readReply(for: command)
            if let message = Subscriber.message(in: frame) {
                early.append(message)
                continue
            }
            guard case .array(let parts) = frame, parts.count == 3, parts[0] == .bulk(kind),
                parts[1] == .bulk(channel)
            else {
                throw ClientError.unexpectedReply(command: command, reply: frame)
            }
            return
        }
    }

    private static func message(in frame: Frame) -> Message? {
        guard case .array(let parts) = frame, parts.count == 3, parts[0] == .bulk("message"),
            case .bulk(let channel) = parts[1], case .bulk(let content) = parts[2]
        else { return nil }
        return Message(channel: String(decoding: channel, as: UTF8.self), content: content)
    }

    public func makeAsyncIterator() -> Iterator { Iterator(subscriber: self) }

    public struct Iterator: AsyncIteratorProtocol {
        let subscriber: Subscriber
        public mutating func next() async throws -> Message? { try await subscriber.nextMessage() }
    }

    /// Closes the connection.
    public func close() async throws { try await client.close() }
}
