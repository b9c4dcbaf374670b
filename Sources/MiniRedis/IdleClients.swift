import Logging
import Torus

/// Closes clients that sent nothing for redis's `timeout` seconds, on one core.
///
/// Like redis's `clientsCron`, a sweep once a second rather than a timer per read: a session
/// costs the hot path nothing but the read counter its ``FrameReader`` keeps anyway. A client
/// whose counter has not moved for more than `timeout` sweeps is shut down (its pending read ends, its
/// session unwinds). Subscribers are exempt, as in redis: they wait for messages, not commands.
/// Core-local: every session and the sweep run on the core that accepted them.
final class IdleClients: @unchecked Sendable {
    // @unchecked: touched only on its core (sessions and the sweep are that core's tasks).
    private struct Watched {
        let session: Session
        var reads: Int
        var idleSweeps = 0
    }

    private var watched: [ObjectIdentifier: Watched] = [:]
    let timeoutSeconds: Int

    init(timeoutSeconds: Int) { self.timeoutSeconds = timeoutSeconds }

    func add(_ session: Session) {
        watched[ObjectIdentifier(session)] = Watched(session: session, reads: session.reader.reads)
    }

    func remove(_ session: Session) { watched[ObjectIdentifier(session)] = nil }

    /// Sweeps once a second until cancelled.
    func run(log: @Sendable (Logger.Level, String) -> Void) async {
        for await _ in interval(every: .seconds(1), missedTickBehavior: .skip) {
            for session in sweep() {
                log(.info, "closing client \(session.peerDescription): idle for \(timeoutSeconds) s (timeout)")
                remove(session)
                try? await session.stream.shutdown(.both)
            }
        }
    }

    /// Counts one more idle second for every client that read nothing since the last sweep;
    /// returns those idle for the whole timeout.
    private func sweep() -> [Session] {
        var expired: [Session] = []
        for (key, var entry) in watched {
            let reads = entry.session.reader.reads
            if reads != entry.reads || entry.session.isSubscriber {
                entry.reads = reads
                entry.idleSweeps = 0
            } else {
                entry.idleSweeps += 1
                // More sweeps than seconds: idle for at least the whole timeout, at most a
                // second longer, however the first sweep fell.
                if entry.idleSweeps > timeoutSeconds { expired.append(entry.session) }
            }
            watched[key] = entry
        }
        return expired
    }
}
