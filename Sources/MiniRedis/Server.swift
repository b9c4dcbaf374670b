import Logging
import Torus

/// The mini-redis server: one `SO_REUSEPORT` listener per core, every connection served on the
/// core that accepted it, one ``Database`` and one ``PubSub`` shared by all cores.
public struct Server: Sendable {
    public let database: Database
    public let pubsub: PubSub
    /// At most this many clients at once (redis's `maxclients`, 10000 by default): one more is
    /// told `-ERR max number of clients reached` and disconnected, as redis does, rather than
    /// left waiting in the backlog with no word.
    public let maxClients: Int
    /// Clients that send nothing for this many seconds are disconnected (redis's `timeout`;
    /// 0, the default, never). Subscribers are exempt.
    public let idleTimeoutSeconds: Int
    /// The most bytes one request may take (redis's `client-query-buffer-limit`, 1 GiB by
    /// default): a client sending more is told so and disconnected.
    public let maxRequestSize: Int
    /// How much output a subscriber may have waiting before it is disconnected (redis's
    /// `client-output-buffer-limit pubsub`, 32 MB hard, 8 MB for 60 s soft, by default).
    public let pubsubOutputLimit: OutputBufferLimit
    /// Where events worth an operator's attention go, at redis's level for each: a client
    /// disconnected for its output-buffer limit and an accept shortage at `.warning`, an idle
    /// client closed at `.info` (redis's `verbose`).
    public let log: @Sendable (Logger.Level, String) -> Void
    /// Connections, commands and traffic, as `INFO` reports them.
    public let statistics: ServerStatistics

    public init(
        database: Database = Database(), pubsub: PubSub = PubSub(), maxClients: Int = 10_000, idleTimeoutSeconds: Int = 0,
        maxRequestSize: Int = 1 << 30,
        pubsubOutputLimit: OutputBufferLimit = .pubsub, statistics: ServerStatistics = ServerStatistics(),
        log: @escaping @Sendable (Logger.Level, String) -> Void = { _, _ in }
    ) {
        self.statistics = statistics
        self.database = database
        self.pubsub = pubsub
        self.maxClients = maxClients
        self.idleTimeoutSeconds = idleTimeoutSeconds
        self.maxRequestSize = maxRequestSize
        self.pubsubOutputLimit = pubsubOutputLimit
        self.log = log
    }

    /// Listens on `address` and serves until the calling task is cancelled (graceful shutdown:
    /// cancel it, and every accept loop and connection unwinds). `ready` gets the bound address
    /// (useful with port 0).
    public func run(on address: SocketAddress, ready: @escaping @Sendable (SocketAddress) -> Void = { _ in }) async throws {
        guard let runtime = RuntimeHandle.current else { throw RuntimeError.notOnRuntimeThread(operation: "Server.run") }
        let cores = runtime.cores
        let listeners = try TCPListener.bindReusingPort(address, count: cores.count)
        let bound = try listeners[0].localAddress
        let slots = AsyncSemaphore(permits: maxClients)
        statistics.started(port: bound.port ?? 0, cores: cores.count)
        ready(bound)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for (index, listener) in listeners.enumerated() {
                // Children with an executor preference stay on their core and are cancelled
                // with the server (a spawned task would not be).
                group.addTask(executorPreference: cores[index]) {
                    try await acceptLoop(listener, slots: slots, counters: statistics.counters(forCore: index))
                }
            }
            group.addTask(executorPreference: cores[0]) {
                for await _ in interval(every: .seconds(1), missedTickBehavior: .skip) {
                    database.purgeExpired()
                    statistics.sample()
                }
            }
            try await group.next()
            group.cancelAll()
        }
    }

    /// Accepts on one core; `counters` is that core's block of ``statistics``.
    private func acceptLoop(_ listener: TCPListener, slots: AsyncSemaphore, counters: ConnectionCounters) async throws {
        let idle = idleTimeoutSeconds > 0 ? IdleClients(timeoutSeconds: idleTimeoutSeconds) : nil
        // The listener's descriptor is closed when the last reference goes, however this ends.
        try await withThrowingDiscardingTaskGroup { group in
            if let idle { group.addTask { [log] in await idle.run(log: log) } }
            // Out of descriptors or memory, the sequence pauses and accepts again (clients wait
            // in the backlog meanwhile): logged once per shortage.
            for try await connection in listener.connections(onShortage: { [log] error in log(.warning, "accept: \(error); retrying") }) {
                guard let slot = slots.tryAcquire() else {
                    counters.rejectedConnections.addAsOnlyWriter(1)
                    group.addTask { await Server.refuse(connection) }
                    continue
                }
                group.addTask {
                    defer { slot.release() }
                    await serve(connection, idle: idle, counters: counters)
                }
            }
        }
    }

    /// Tells a client over ``maxClients`` why and closes it, as redis does.
    static func refuse(_ connection: TCPStream) async {
        // 36 bytes into a new socket's empty send buffer: the write does not wait for the peer.
        try? await connection.writeAll(Frame.error("ERR max number of clients reached").encoded)
        try? await connection.close()
    }

    /// Serves one client until it disconnects, sends malformed RESP, or the task is cancelled.
    ///
    /// Counted in ``statistics`` under the calling core, whose tasks must be the only ones to
    /// serve with this server there (the counters have one writer per core): call it from a
    /// task on a core of the runtime, as the accept loops of ``run(on:ready:)`` do.
    public func serve(_ stream: TCPStream) async {
        await serve(stream, idle: nil, counters: statistics.counters(forCore: Core.current?.index ?? 0))
    }

    /// Serves one client on the current core, whose block of ``statistics`` is `counters`.
    func serve(_ stream: TCPStream, idle: IdleClients?, counters: ConnectionCounters) async {
        counters.connectionsReceived.addAsOnlyWriter(1)
        defer { counters.connectionsClosed.addAsOnlyWriter(1) }
        try? stream.setNoDelay(true)
        let session = Session(stream: stream, server: self, counters: counters)
        idle?.add(session)
        // Shutdown cancels the session; a reply stuck on a full socket (a client that does not
        // read) would not notice, so the connection is aborted too.
        await withTaskCancellationHandler {
            await session.run()
        } onCancel: {
            try? stream.abort()
        }
        idle?.remove(session)
        try? await stream.close()
    }
}
