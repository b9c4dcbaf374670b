import Torus

/// One client connection on the server: reads commands, answers them, and switches into
/// subscriber mode on SUBSCRIBE.
final class Session {
    let stream: TCPStream
    let server: Server
    let reader: FrameReader<TCPStream>
    let writer: FrameWriter<TCPStream>

    /// In subscriber mode (exempt from the idle timeout, as in redis).
    var isSubscriber = false

    var database: Database { server.database }
    var pubsub: PubSub { server.pubsub }

    init(stream: TCPStream, server: Server) {
        self.stream = stream
        self.server = server
        reader = FrameReader(stream, requests: RequestParser(maxRequestSize: server.maxRequestSize))
        writer = FrameWriter(stream)
    }

    func run() async {
        do {
            while let request = try await reader.readRequest() {
                // Answer every command already received, then write all replies at once.
                var next: FrameParser.Request? = request
                while let request = next {
                    switch Result(catching: { () throws(CommandError) in try Command(request) }) {
                    case .success(.subscribe(let channels)):
                        try await writer.flush()
                        let subscriber = SubscriberSession(session: self)
                        isSubscriber = true
                        let ending = try await subscriber.run(first: channels)
                        isSubscriber = false
                        if ending == .peerClosed { return }
                    case .success(let command):
                        answer(command)
                    case .failure(let error):
                        writer.queue(.error(error.message))
                    }
                    next = try reader.bufferedRequest()
                }
                try await writer.flush()
            }
        } catch let error as ProtocolError {
            // Like redis: say what was wrong, then close the connection.
            writer.queue(.error("ERR \(error)"))
            try? await writer.flush()
            await lingeringClose()
        } catch let error as OutputBufferLimitExceeded {
            // A subscriber that stopped reading: redis disconnects it and says so in its log.
            server.log("closing client \(error.peer): \(error)")
        } catch {
            // The peer vanished (reset, broken pipe) or the server is shutting down.
        }
    }

    /// The client's address for the log.
    var peerDescription: String { (try? stream.peerAddress.description) ?? "(unknown address)" }

    /// Ends our side, then reads and drops what the peer still sends (up to 1 MiB, for at most
    /// a second) so that closing does not reset the connection and destroy the error reply
    /// before the peer has read it.
    private func lingeringClose() async {
        do {
            let stream = self.stream
            try await stream.shutdown(.write)
            try await withTimeout(.seconds(1)) {
                let sink = IOBuffer(capacity: 16 << 10)
                var drained = 0
                while drained < 1 << 20 {
                    sink.clear()
                    let count = try await stream.read(into: sink)
                    if count == 0 { break }
                    drained += count
                }
            }
        } catch {
            // Timed out or reset: close anyway.
        }
    }

    /// Runs a command that needs no subscriber state and queues its reply.
    func answer(_ command: Command) {
        if case .unsubscribe(let channels) = command {
            // Not subscribed to anything: redis confirms each channel with a count of 0.
            for channel in channels.isEmpty ? [nil] : channels.map(Optional.some) {
                writer.queue(.array([.bulk("unsubscribe"), channel.map { .bulk($0) } ?? .null, .integer(0)]))
            }
            return
        }
        writer.queue(reply(to: command))
    }

    /// The reply to a command that answers with one frame.
    func reply(to command: Command) -> Frame {
        switch command {
        case .ping(let message):
            return message.map { .bulk($0) } ?? .simple("PONG")
        case .get(let key):
            return database.get(key).map { .bulk($0) } ?? .null
        case .set(let key, let value, let expiry):
            database.set(key, value, expiry: expiry)
            return .simple("OK")
        case .delete(let keys):
            return .integer(Int64(database.delete(keys)))
        case .publish(let channel, let message):
            return .integer(Int64(pubsub.publish(channel, message)))
        case .configGet(let name):
            // redis-benchmark asks for these two; everything else has no value here.
            switch String(decoding: name, as: UTF8.self).lowercased() {
            case "save": return .array([.bulk("save"), .bulk("")])
            case "appendonly": return .array([.bulk("appendonly"), .bulk("no")])
            default: return .array([])
            }
        case .subscribe, .unsubscribe:
            preconditionFailure("(UN)SUBSCRIBE is answered by the session loop")
        }
    }
}
