/// Every address of a connection failed (``TCPStream/connect(host:port:timeout:)``, a host
/// name given to `TCPStream.connect(to:timeout:)`, or a list of addresses): one ``IOError``
/// per attempt, each naming its address.
///
/// ```
/// connect "localhost": 127.0.0.1:6379: Connection refused (ECONNREFUSED)
/// connect "db.internal": [fd00::7]:5432: No route to host (EHOSTUNREACH); 10.0.0.7:5432: Connection refused (ECONNREFUSED)
/// ```
///
/// A connection to a single ``SocketAddress`` (or an address written as text, `127.0.0.1:6379`)
/// throws its ``IOError`` itself instead.
public struct ConnectError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The host name the addresses came from, as given; nil for a list of addresses.
    public var host: String?
    /// Each attempt's failure (operation `connect`, its address, the errno), in the order the
    /// attempts failed.
    public var attempts: [IOError]

    /// A failure to connect to `host` (nil for a list of addresses) after the given attempts.
    public init(host: String?, attempts: [IOError]) {
        self.host = host
        self.attempts = attempts
    }

    /// Whether every address refused the connection (`ECONNREFUSED`): nothing listens there.
    public var isConnectionRefused: Bool { !attempts.isEmpty && attempts.allSatisfy(\.isConnectionRefused) }

    /// The host and each address's failure.
    public var description: String {
        let subject = host.map { "connect \"\($0)\"" } ?? "connect"
        let failures = attempts.map { attempt in
            "\(attempt.address.map { "\($0)" } ?? "?"): \(attempt.errno.description) (\(IOError.name(of: attempt.errno)))"
        }
        return "\(subject): \(failures.joined(separator: "; "))"
    }
}
