import Logging
import Torus

/// One client connection on the server: reads commands, answers them, and switches into
/// subscriber mode on SUBSCRIBE.
final class Session {
    let stream: TCPStream
    let server: Server
    let reader: FrameReader<TCPStream>
    let writer: FrameWriter<TCPStream>
    /// This core's block of the server's statistics; the session runs on that core, the only
    /// writer of the block.
    let counters: ConnectionCounters
    /// What of the reader's and writer's byte totals has been added to `counters`.
    /// Unchecked exclusivity (these and below): only the session's task touches them.
    @exclusivity(unchecked) private var countedInput: UInt64 = 0
    @exclusivity(unchecked) private var countedOutput: UInt64 = 0

    /// In subscriber mode (exempt from the idle timeout, as in redis).
    @exclusivity(unchecked) var isSubscriber = false
    /// The stream's send queue, once ``run()`` has started.
    @exclusivity(unchecked) private var replies: SendQueue?

    var database: Database { server.database }
    var pubsub: PubSub { server.pubsub }

    init(stream: TCPStream, server: Server, counters: ConnectionCounters) {
        self.stream = stream
        self.server = server
        self.counters = counters
        reader = FrameReader(stream, requests: RequestParser(maxRequestSize: server.maxRequestSize))
        writer = FrameWriter(stream)
    }

    func run() async {
        defer { countTraffic() }
        // Replies go through the stream's send queue: the session goes back to reading as soon
        // as they are handed over, and the core sends them, in order.
        let replies: SendQueue
        do { replies = try stream.sendQueue() } catch { return }
        self.replies = replies
        do {
            while let request = try await nextRequest() {
                // Answer every command already received, then write all replies at once.
                var next: FrameParser.Request? = request
                while let request = next {
                    switch Result(catching: { () throws(CommandError) in try Command(request) }) {
                    case .success(.subscribe(let channels)):
                        // Subscriber mode writes to the stream itself: the replies before it go
                        // out first.
                        try await flush()
                        try await replies.flush()
                        let ending = try await runSubscribed(first: channels)
                        if ending == .peerClosed { return }
                    case .success(.info(let sections)):
                        // Like redis, the reply counts the bytes of this request but not the
                        // command itself, which is counted once it has run.
                        countTraffic()
                        writer.queue(.bulk(Array(await server.info(sections).utf8)))
                        counters.commandsProcessed.addAsOnlyWriter(1)
                    case .success(let command):
                        answer(command)
                        counters.commandsProcessed.addAsOnlyWriter(1)
                    case .failure(let error):
                        writer.queue(.error(error.message))
                    }
                    next = try reader.bufferedRequest()
                }
                try await flush()
            }
            // The peer ended its side: the last replies still go out before the close.
            try await replies.flush()
        } catch let error as ProtocolError {
            // Like redis: say what was wrong, then close the connection.
            writer.queue(.error("ERR \(error)"))
            try? await writer.flush(into: replies)
            try? await replies.flush()
            await lingeringClose()
        } catch let error as OutputBufferLimitExceeded {
            // A subscriber that stopped reading: redis disconnects it and says so in its log.
            server.log(.warning, "closing client \(error.peer): \(error)")
        } catch {
            // The peer vanished (reset, broken pipe) or the server is shutting down.
        }
    }

    /// The next request, reading as needed (nil at a clean end of the stream); what was read
    /// is added to the statistics.
    nonisolated(nonsending) func nextRequest() async throws -> FrameParser.Request? {
        defer { countTraffic() }
        return try await reader.readRequest()
    }

    /// Hands the queued replies to the send queue and adds them to the statistics.
    private nonisolated(nonsending) func flush() async throws {
        defer { countTraffic() }
        try await writer.flushOnQueueCore(into: replies!)
    }

    /// Adds the bytes read and written since the last call to the core's statistics: once per
    /// read and per flush, not per command.
    func countTraffic() {
        let input = reader.bytesRead
        let output = writer.bytesWritten
        if input != countedInput { counters.netInputBytes.addAsOnlyWriter(input &- countedInput) }
        if output != countedOutput { counters.netOutputBytes.addAsOnlyWriter(output &- countedOutput) }
        countedInput = input
        countedOutput = output
    }

    /// Serves the connection in subscriber mode until it leaves it, counted as a pubsub client
    /// meanwhile.
    private func runSubscribed(first channels: [[UInt8]]) async throws -> SubscriberSession.Ending {
        counters.subscribersEntered.addAsOnlyWriter(1)
        isSubscriber = true
        defer {
            isSubscriber = false
            counters.subscribersLeft.addAsOnlyWriter(1)
        }
        // The SUBSCRIBE that started it runs now.
        counters.commandsProcessed.addAsOnlyWriter(1)
        return try await SubscriberSession(session: self).run(first: channels)
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
            guard let value = database.get(key) else {
                counters.keyspaceMisses.addAsOnlyWriter(1)
                return .null
            }
            counters.keyspaceHits.addAsOnlyWriter(1)
            return .bulk(value)
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
        case .subscribe, .unsubscribe, .info:
            preconditionFailure("(UN)SUBSCRIBE and INFO are answered by the session loop")
        }
    }
}
