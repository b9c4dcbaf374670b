import Synchronization

/// The server's counters behind `INFO`: connections, commands, traffic, keyspace hits.
///
/// Every core keeps its own block (``ConnectionCounters``), written only by the tasks of that
/// core, which all run on its one thread: an update is a relaxed load and store to a cache
/// line no other core writes, never a locked read-modify-write that cores would fight over.
/// `INFO` adds the blocks up with relaxed loads, so a reply is a sum of recent values, not one
/// instant (as in redis, whose threads also update their figures independently).
public final class ServerStatistics: Sendable {
    private let blocks = Mutex<[ConnectionCounters]>([])
    private let run = Mutex<RunFacts?>(nil)
    /// Commands per second over the last sample (``sample(now:)``), as a `Double`'s bits.
    private let operationsPerSecond = Atomic<UInt64>(0)
    private let lastSample = Mutex<(commands: UInt64, at: ContinuousClock.Instant)?>(nil)

    /// What a server run knows once it has bound its port.
    struct RunFacts: Sendable {
        var port: UInt16
        var cores: Int
        var started: ContinuousClock.Instant
        /// A random 40-hex-digit id of this run, as redis's `run_id`.
        var id: String
    }

    public init() {}

    /// The block of the core with this index (created on first use). Taken once per accept loop
    /// or connection, not per command: the lock is never on a command's path.
    func counters(forCore index: Int) -> ConnectionCounters {
        blocks.withLock { blocks in
            while blocks.count <= index { blocks.append(ConnectionCounters()) }
            return blocks[index]
        }
    }

    /// Records that the server is listening.
    func started(port: UInt16, cores: Int) {
        var generator = SystemRandomNumberGenerator()
        let id = (0..<40).map { _ in String(UInt8.random(in: 0..<16, using: &generator), radix: 16) }.joined()
        run.withLock { $0 = RunFacts(port: port, cores: cores, started: .now, id: id) }
    }

    var runFacts: RunFacts? { run.withLock { $0 } }

    /// The figures of every core added up.
    public var totals: Totals {
        blocks.withLock { blocks in
            var totals = Totals()
            for block in blocks { totals.add(block) }
            totals.operationsPerSecond = Double(bitPattern: operationsPerSecond.load(ordering: .relaxed))
            return totals
        }
    }

    /// Takes one sample of the command count for `instantaneous_ops_per_sec` (redis samples
    /// too); the server calls it once a second.
    func sample(now: ContinuousClock.Instant = .now) {
        let commands = totals.commandsProcessed
        let rate = lastSample.withLock { last -> Double? in
            defer { last = (commands, now) }
            guard let last else { return nil }
            let seconds = Double((now - last.at).components.seconds) + Double((now - last.at).components.attoseconds) / 1e18
            return seconds > 0 ? Double(commands &- last.commands) / seconds : nil
        }
        if let rate { operationsPerSecond.store(rate.bitPattern, ordering: .relaxed) }
    }

    /// The server's figures at one moment.
    public struct Totals: Sendable {
        /// Connections accepted and served (not those refused for `maxclients`).
        public var connectionsReceived: UInt64 = 0
        /// Connections open now.
        public var connectedClients: UInt64 = 0
        /// Connections refused because `maxclients` were connected.
        public var rejectedConnections: UInt64 = 0
        /// Commands run (requests that decoded to a known command with valid arguments).
        public var commandsProcessed: UInt64 = 0
        /// Bytes received from clients.
        public var netInputBytes: UInt64 = 0
        /// Bytes sent to clients.
        public var netOutputBytes: UInt64 = 0
        /// GETs that found their key.
        public var keyspaceHits: UInt64 = 0
        /// GETs that did not.
        public var keyspaceMisses: UInt64 = 0
        /// Connections in subscriber mode now.
        public var subscriberClients: UInt64 = 0
        /// Commands per second, sampled once a second.
        public var operationsPerSecond: Double = 0

        mutating func add(_ block: ConnectionCounters) {
            let received = block.connectionsReceived.load(ordering: .relaxed)
            connectionsReceived &+= received
            connectedClients &+= received &- block.connectionsClosed.load(ordering: .relaxed)
            rejectedConnections &+= block.rejectedConnections.load(ordering: .relaxed)
            commandsProcessed &+= block.commandsProcessed.load(ordering: .relaxed)
            netInputBytes &+= block.netInputBytes.load(ordering: .relaxed)
            netOutputBytes &+= block.netOutputBytes.load(ordering: .relaxed)
            keyspaceHits &+= block.keyspaceHits.load(ordering: .relaxed)
            keyspaceMisses &+= block.keyspaceMisses.load(ordering: .relaxed)
            subscriberClients &+= block.subscribersEntered.load(ordering: .relaxed) &- block.subscribersLeft.load(ordering: .relaxed)
        }
    }
}

/// One core's counters: written by that core's connections only (see ``ServerStatistics``).
///
/// Atomics only so that `INFO`, on another core, may read them; the writes are
/// `addAsOnlyWriter(_:)`. Gauges are kept as two counters (connections received and
/// closed), so that each field only grows and has a single writer.
final class ConnectionCounters: Sendable {
    let connectionsReceived = Atomic<UInt64>(0)
    let connectionsClosed = Atomic<UInt64>(0)
    let rejectedConnections = Atomic<UInt64>(0)
    let commandsProcessed = Atomic<UInt64>(0)
    let netInputBytes = Atomic<UInt64>(0)
    let netOutputBytes = Atomic<UInt64>(0)
    let keyspaceHits = Atomic<UInt64>(0)
    let keyspaceMisses = Atomic<UInt64>(0)
    let subscribersEntered = Atomic<UInt64>(0)
    let subscribersLeft = Atomic<UInt64>(0)
    /// Keeps the next object on the heap (another core's block, whose header that core writes
    /// when it retains it) off the cache line of these counters.
    private let padding = (UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0))
}

extension Atomic where Value == UInt64 {
    /// Adds `amount` when the caller is the only thread that ever writes this atomic: a relaxed
    /// load and store, not a locked add (readers may see the old or the new value, never a
    /// torn one).
    @inline(__always)
    func addAsOnlyWriter(_ amount: UInt64) {
        store(load(ordering: .relaxed) &+ amount, ordering: .relaxed)
    }
}
