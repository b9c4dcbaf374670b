import Synchronization
import Torus

/// Channels for PUBLISH / SUBSCRIBE: each channel name maps to the inboxes of the connections
/// subscribed to it (one inbox per connection, whatever its number of channels), created by the
/// first subscriber and dropped when the last one leaves. Any core may publish; every
/// subscriber, on whatever core, gets the message, and no publisher ever waits for one.
///
/// A subscribed channel costs one table entry and one inbox reference: hundreds of bytes, as in
/// redis (it was a broadcast ring and a task per channel per subscriber, ~11 KB).
public final class PubSub: Sendable {
    private let channels = Mutex<[[UInt8]: [SubscriberInbox]]>([:])

    public init() {}

    /// Sends `message` to the channel's subscribers; returns how many received it.
    public func publish(_ channel: [UInt8], _ message: [UInt8]) -> Int {
        guard let inboxes = channels.withLock({ $0[channel] }) else { return 0 }
        // Encoded once, shared by every inbox.
        let frame = Frame.array([.bulk("message"), .bulk(channel), .bulk(message)]).encoded
        var received = 0
        for inbox in inboxes where inbox.deliver(frame) { received += 1 }
        return received
    }

    /// Adds `inbox` to the channel's subscribers (once).
    func subscribe(_ channel: [UInt8], _ inbox: SubscriberInbox) {
        channels.withLock { table in
            if table[channel]?.contains(where: { $0 === inbox }) == true { return }
            table[channel, default: []].append(inbox)
        }
    }

    /// Removes `inbox` from the channel's subscribers, and the channel if nobody is left.
    func unsubscribe(_ channel: [UInt8], _ inbox: SubscriberInbox) {
        channels.withLock { table in
            guard var inboxes = table[channel] else { return }
            inboxes.removeAll { $0 === inbox }
            table[channel] = inboxes.isEmpty ? nil : inboxes
        }
    }

    /// Channels with at least one subscriber.
    public var channelCount: Int { channels.withLock { $0.count } }
}
