import Torus

/// A synchronous mini-redis client for code that is not async: it owns a one-core Torus
/// runtime and blocks the calling thread on each request (the seed's `BlockingClient`, built on
/// ``Client`` with `block(on:)` as tokio's is built with `block_on`).
///
/// Unlike tokio's current-thread runtime, a Torus core is its own thread, so tasks spawned on
/// this runtime keep running between calls. Call it from plain threads only, never from a
/// Torus core (that would block the core).
public final class BlockingClient {
    private let runtime: Runtime
    private let connection: Connection

    /// Carries the async client into the runtime's tasks.
    ///
    /// `@unchecked Sendable` because the compiler cannot see the protocol that makes it safe:
    /// only this `BlockingClient` holds it, its methods are synchronous and return only after
    /// the task using the client finished, and `BlockingClient` itself is not `Sendable`, so no
    /// two threads can be inside it at once. The client is used by one task at a time.
    private final class Connection: @unchecked Sendable {
        let client: Client
        init(_ client: Client) { self.client = client }
    }

    /// Connects to the server at `address`, starting a one-core runtime for the client.
    public init(connectingTo address: String) throws {
        runtime = try Runtime(RuntimeConfiguration(cores: .count(1), pinThreads: false, maxBlockingThreads: 1))
        do {
            connection = try runtime.block { Connection(try await Client.connect(to: address)) }
        } catch {
            runtime.shutdown(gracePeriod: .zero)
            throw error
        }
    }

    deinit {
        let connection = self.connection
        _ = try? runtime.block { try await connection.client.close() }
        runtime.shutdown(gracePeriod: .zero)
    }

    private func call<T: Sendable>(_ body: @escaping @Sendable (Client) async throws -> T) throws -> T {
        let connection = self.connection
        return try runtime.block { try await body(connection.client) }
    }

    public func ping() throws -> [UInt8] { try call { try await $0.ping() } }

    public func get(_ key: String) throws -> [UInt8]? { try call { try await $0.get(key) } }

    public func set(_ key: String, _ value: [UInt8], expiringAfter expiry: Duration? = nil) throws {
        try call { try await $0.set(key, value, expiringAfter: expiry) }
    }

    public func set(_ key: String, _ value: String, expiringAfter expiry: Duration? = nil) throws {
        try set(key, Array(value.utf8), expiringAfter: expiry)
    }

    @discardableResult
    public func delete(_ key: String) throws -> Int { try call { try await $0.delete(key) } }

    @discardableResult
    public func publish(_ channel: String, _ message: String) throws -> Int {
        try call { try await $0.publish(channel, message) }
    }
}
