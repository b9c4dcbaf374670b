import Glibc

extension TCPStream {
    /// Connects to `host` (a name such as `localhost` or `db.internal`, or an IP address) on
    /// `port`.
    ///
    /// A name is resolved with ``SocketAddress/resolve(host:port:)`` (`getaddrinfo` on the
    /// blocking pool); when it has several addresses they are raced as RFC 8305 ("Happy
    /// Eyeballs") says: IPv6 first, families interleaved, the next address tried 250 ms after
    /// the previous one if it has not connected yet (at once if it failed), the first
    /// connection wins, and the other attempts are cancelled and their sockets closed. So an
    /// address that drops packets (a broken IPv6 route, a full accept queue) delays the
    /// connection by 250 ms instead of the kernel's minutes of SYN retries.
    ///
    /// ```swift
    /// let stream = try await TCPStream.connect(host: "localhost", port: 6379)
    /// ```
    ///
    /// - Parameters:
    ///   - host: a host name or an IP address literal.
    ///   - port: the port to connect to.
    ///   - timeout: a limit for the whole call, resolution included.
    ///
    /// Cancel safety: a cancelled (or timed-out) connect leaves no descriptor open: the
    /// look-up is abandoned (it finishes on the pool, its result dropped), every pending
    /// connect is cancelled in the kernel and its socket closed before the call returns. An
    /// attempt that connected before the cancellation took effect returns its stream.
    /// - Throws: ``HostResolutionError`` when the name cannot be resolved (`getaddrinfo
    ///   "nosuch.invalid": Name or service not known (EAI_NONAME)`); ``ConnectError`` when every
    ///   address failed, with one ``IOError`` per address (`connect "localhost":
    ///   127.0.0.1:6379: Connection refused (ECONNREFUSED)`); for an IP address, its
    ///   ``IOError`` as `connect(to:timeout:)` with a ``SocketAddress`` throws it; ``TimeoutError``;
    ///   `CancellationError`.
    public static func connect(host: String, port: UInt16, timeout: Duration? = nil) async throws -> TCPStream {
        if let literal = try? SocketAddress(host: host, port: port) {
            return try await connect(to: literal, timeout: timeout)
        }
        guard let timeout else { return try await connectResolving(host: host, port: port) }
        return try await withTimeout(timeout) { try await connectResolving(host: host, port: port) }
    }

    /// Connects to the first of `addresses` that accepts, racing them as
    /// ``connect(host:port:timeout:)`` races a name's addresses (IPv6 first, families
    /// interleaved, a new attempt every 250 ms, the first connection wins, the others are
    /// cancelled and closed).
    ///
    /// Cancel safety: a cancelled (or timed-out) connect leaves no descriptor open; an attempt
    /// that connected before the cancellation took effect returns its stream.
    /// - Throws: ``ConnectError`` when every address failed (also for an empty list), one
    ///   ``IOError`` per address; ``TimeoutError``; `CancellationError`.
    public static func connect(to addresses: [SocketAddress], timeout: Duration? = nil) async throws -> TCPStream {
        let ordered = HappyEyeballs.order(addresses)
        guard let timeout else { return try await HappyEyeballs.connect(to: ordered, host: nil) }
        return try await withTimeout(timeout) { try await HappyEyeballs.connect(to: ordered, host: nil) }
    }

    /// `"host:port"` split, for `connect(to:timeout:)` with text; a unix path is refused
    /// as connecting to one as TCP always was (`EAFNOSUPPORT`).
    static func connect(text: String, timeout: Duration?) async throws -> TCPStream {
        if text.hasPrefix("unix:") || text.hasPrefix("/") {
            return try await connect(to: SocketAddress(text), timeout: timeout)
        }
        let target = try HostAndPort(parsing: text)
        return try await connect(host: target.host, port: target.port, timeout: timeout)
    }

    private static func connectResolving(host: String, port: UInt16) async throws -> TCPStream {
        let addresses = try await SocketAddress.resolve(host: host, port: port)
        return try await HappyEyeballs.connect(to: HappyEyeballs.order(addresses), host: host)
    }
}
