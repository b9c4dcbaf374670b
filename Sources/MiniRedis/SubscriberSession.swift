import Torus

/// A connection in subscriber mode (after SUBSCRIBE): messages from any core arrive while the
/// client may still send SUBSCRIBE, UNSUBSCRIBE and PING.
///
/// Shape: one delivery path per connection, whatever the number of channels. Publishers put
/// encoded messages into the connection's ``SubscriberInbox`` without waiting, and three
/// children of one task group serve it: the command reader (its confirmations go through the
/// inbox too, so they stay in order with messages), the writer draining the inbox to the
/// socket, and a watch that ends the connection when the inbox passes its output-buffer limit
/// (a client that stopped reading). Cancelling the connection's task, as server shutdown does,
/// cancels all three, even a writer stuck on a full socket. When the last channel is
/// unsubscribed the connection returns to normal mode, as in RESP2.
final class SubscriberSession: @unchecked Sendable {
    // @unchecked: the three children run on the connection's core (they inherit its executor
    // preference) and share no state but the inbox, which is Sendable: the reader owns
    // `channels` and the session's reader, the writer owns its FrameWriter.
    private let session: Session
    private let inbox: SubscriberInbox
    /// The channels subscribed to.
    private var channels: Set<[UInt8]> = []

    /// Why subscriber mode ended without an error.
    enum Ending { case unsubscribedAll, peerClosed }

    private enum Child {
        case reader(Ending)
        case writer, watch
    }

    init(session: Session) {
        self.session = session
        inbox = SubscriberInbox(limit: session.server.pubsubOutputLimit)
    }

    /// Subscribes to `first`, then serves the connection until it leaves subscriber mode.
    func run(first: [[UInt8]]) async throws -> Ending {
        var ending = Ending.peerClosed
        try await withThrowingTaskGroup(of: Child.self) { group in
            group.addTask { .reader(try await self.readCommands(first: first)) }
            group.addTask {
                try await self.writeDeliveries()
                return .writer
            }
            group.addTask {
                try await self.inbox.overLimit.notified()
                let exceeded = OutputBufferLimitExceeded(
                    peer: self.session.peerDescription, pending: self.inbox.pendingBytes, limit: self.session.server.pubsubOutputLimit)
                // The writer is stuck on the full socket: end the connection under it.
                try? self.session.stream.abort()
                throw exceeded
            }
            while let child = try await group.next() {
                switch child {
                case .reader(let how):
                    ending = how
                    // The client is gone (end of stream): like redis, drop what it was still
                    // to be sent instead of waiting on a socket nobody may ever read.
                    if how == .peerClosed {
                        try? self.session.stream.abort()
                        group.cancelAll()
                        return
                    }
                case .writer:
                    // The reader finished the inbox and everything queued is written: only the
                    // watch is left.
                    group.cancelAll()
                    return
                case .watch:
                    break
                }
            }
        }
        return ending
    }

    /// Serves commands until the last channel is left or the peer closes; then no more
    /// deliveries come and the writer is told to end.
    private func readCommands(first: [[UInt8]]) async throws -> Ending {
        defer {
            for channel in channels { session.server.pubsub.unsubscribe(channel, inbox) }
            inbox.finish()
        }
        subscribe(first)
        while !channels.isEmpty {
            guard let request = try await session.nextRequest() else { return .peerClosed }
            handle(request)
        }
        return .unsubscribedAll
    }

    /// Writes deliveries as they come, batching whatever is already queued into one write.
    private func writeDeliveries() async throws {
        let writer = FrameWriter(session.stream)
        for await first in inbox.deliveries {
            var bytes = first.count
            writer.queue(encoded: first)
            while bytes < 1 << 20, case .value(let more) = inbox.deliveries.tryReceive() {
                bytes += more.count
                writer.queue(encoded: more)
            }
            try await writer.flush()
            // This writer is the connection's only one in subscriber mode; it runs on the
            // connection's core like the session, so it counts its own output.
            session.counters.netOutputBytes.addAsOnlyWriter(UInt64(bytes))
            inbox.written(bytes)
        }
    }

    private func handle(_ request: FrameParser.Request) {
        let command: Command
        do {
            command = try Command(request)
        } catch {
            send(.error(error.message))
            return
        }
        switch command {
        case .subscribe(let channels):
            subscribe(channels)
            session.counters.commandsProcessed.addAsOnlyWriter(1)
        case .unsubscribe(let channels):
            unsubscribe(channels.isEmpty ? self.channels.sorted { $0.lexicographicallyPrecedes($1) } : channels)
            session.counters.commandsProcessed.addAsOnlyWriter(1)
        case .ping(let message):
            send(.array([.bulk("pong"), .bulk(message ?? [])]))
            session.counters.commandsProcessed.addAsOnlyWriter(1)
        default:
            let name = command.name.lowercased()
            send(.error("ERR Can't execute '\(name)': only SUBSCRIBE / UNSUBSCRIBE / PING are allowed in this context"))
        }
    }

    private func subscribe(_ channels: [[UInt8]]) {
        for channel in channels {
            if self.channels.insert(channel).inserted { session.server.pubsub.subscribe(channel, inbox) }
            send(.array([.bulk("subscribe"), .bulk(channel), .integer(Int64(self.channels.count))]))
        }
    }

    private func unsubscribe(_ leaving: [[UInt8]]) {
        for channel in leaving {
            if self.channels.remove(channel) != nil { session.server.pubsub.unsubscribe(channel, inbox) }
            send(.array([.bulk("unsubscribe"), .bulk(channel), .integer(Int64(self.channels.count))]))
        }
    }

    private func send(_ frame: Frame) { inbox.deliver(frame.encoded) }
}

/// A subscriber whose pending output passed its ``OutputBufferLimit``: it is disconnected.
struct OutputBufferLimitExceeded: Error, CustomStringConvertible {
    /// The client's address (taken before the connection is aborted).
    var peer: String
    var pending: Int
    var limit: OutputBufferLimit
    var description: String { "output buffer limit reached (\(pending) bytes pending; pubsub limit \(limit))" }
}
