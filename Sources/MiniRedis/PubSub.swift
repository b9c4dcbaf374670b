import Synchronization
import Torus

/// Channels for PUBLISH / SUBSCRIBE: one `Broadcast` channel per channel name, created by the
/// first subscriber and dropped when the last one leaves. Any core may publish; every
/// subscriber, on whatever core, gets the message.
public final class PubSub: Sendable {
    private let channels = Mutex<[[UInt8]: Broadcast.Sender<[UInt8]>]>([:])
    /// Messages a slow subscriber may fall behind by before it misses some.
    private let capacity: Int

    public init(capacity: Int = 1024) { self.capacity = capacity }

    /// Sends `message` to the channel's subscribers; returns how many there were.
    public func publish(_ channel: [UInt8], _ message: [UInt8]) -> Int {
        guard let sender = channels.withLock({ $0[channel] }) else { return 0 }
        return sender.send(message)
    }

    /// A receiver for the channel's future messages.
    public func subscribe(_ channel: [UInt8]) -> Broadcast.Receiver<[UInt8]> {
        channels.withLock { table in
            if let sender = table[channel] { return sender.subscribe() }
            let sender = Broadcast.Sender<[UInt8]>(capacity: capacity)
            table[channel] = sender
            return sender.subscribe()
        }
    }

    /// Call after dropping a receiver: forgets the channel if nobody listens any more.
    public func release(_ channel: [UInt8]) {
        channels.withLock { table in
            if let sender = table[channel], sender.receiverCount == 0 { table[channel] = nil }
        }
    }

    /// Channels with at least one subscriber.
    public var channelCount: Int { channels.withLock { $0.count } }
}
