import Torus

/// A connection in subscriber mode (after SUBSCRIBE): messages from any core arrive while the
/// client may still send SUBSCRIBE, UNSUBSCRIBE and PING.
///
/// Shape: every outgoing frame goes through one bounded queue drained by a writer task, so
/// confirmations and messages never interleave mid-frame; each subscribed channel has a
/// forwarding task moving messages from its broadcast receiver into that queue. The session
/// loop keeps reading commands. When the last channel is unsubscribed the connection returns
/// to normal mode, as in RESP2.
final class SubscriberSession {
    private let session: Session
    private let outbox: MPSC.Sender<Frame>
    private let writerTask: JoinHandle<Void>
    private var forwarders: [[UInt8]: JoinHandle<Void>] = [:]

    init(session: Session) {
        self.session = session
        let (outbox, queued) = MPSC.bounded(Frame.self, capacity: 1024)
        self.outbox = outbox
        let stream = session.stream
        writerTask = spawn {
            let writer = FrameWriter(stream)
            for await frame in queued {
                writer.queue(frame)
                // Batch whatever else is already queued into the same write.
                while case .value(let more) = queued.tryReceive() { writer.queue(more) }
                try await writer.flush()
            }
        }
    }

    /// Subscribes to `first`, then serves the connection until it leaves subscriber mode.
    func run(first: [[UInt8]]) async throws {
        do {
            try await subscribe(first)
            while !forwarders.isEmpty, let request = try await session.reader.readRequest() {
                try await handle(request)
            }
        } catch {
            await stop()
            throw error
        }
        await stop()
    }

    private func handle(_ request: FrameParser.Request) async throws {
        let command: Command
        do {
            command = try Command(request)
        } catch {
            try await send(.error(error.message))
            return
        }
        switch command {
        case .subscribe(let channels):
            try await subscribe(channels)
        case .unsubscribe(let channels):
            try await unsubscribe(channels.isEmpty ? forwarders.keys.sorted { $0.lexicographicallyPrecedes($1) } : channels)
        case .ping(let message):
            try await send(.array([.bulk("pong"), .bulk(message ?? [])]))
        default:
            let name = command.name.lowercased()
            try await send(.error("ERR Can't execute '\(name)': only SUBSCRIBE / UNSUBSCRIBE / PING are allowed in this context"))
        }
    }

    private func subscribe(_ channels: [[UInt8]]) async throws {
        for channel in channels {
            if forwarders[channel] == nil {
                let receiver = session.pubsub.subscribe(channel)
                let outbox = outbox
                forwarders[channel] = spawn {
                    for await message in receiver.messages {
                        // A subscriber that fell too far behind misses messages (as with redis's
                        // output-buffer limit); the rest are delivered in order.
                        guard case .value(let payload) = message else { continue }
                        try await outbox.send(.array([.bulk("message"), .bulk(channel), .bulk(payload)]))
                    }
                }
            }
            try await send(.array([.bulk("subscribe"), .bulk(channel), .integer(Int64(forwarders.count))]))
        }
    }

    private func unsubscribe(_ channels: [[UInt8]]) async throws {
        for channel in channels {
            await endForwarding(channel)
            try await send(.array([.bulk("unsubscribe"), .bulk(channel), .integer(Int64(forwarders.count))]))
        }
    }

    private func send(_ frame: Frame) async throws {
        try await outbox.send(frame)
    }

    /// Stops the channel's forwarder, waits for it, and lets the channel go if it was the last.
    private func endForwarding(_ channel: [UInt8]) async {
        guard let forwarder = forwarders.removeValue(forKey: channel) else { return }
        forwarder.cancel()
        _ = await forwarder.result
        session.pubsub.release(channel)
    }

    /// Ends the forwarders, lets the writer drain what is queued, and waits for it.
    private func stop() async {
        for channel in Array(forwarders.keys) { await endForwarding(channel) }
        outbox.finish()
        _ = await writerTask.result
    }
}
