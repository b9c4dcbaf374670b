import Torus

/// Why a mini-redis client call failed (besides the `IOError` of the connection itself).
public enum ClientError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The server answered the command with an error reply.
    case server(command: String, message: String)
    /// The server closed the connection before replying to the command.
    case connectionClosed(command: String, address: SocketAddress)
    /// The reply had a shape the command never produces.
    case unexpectedReply(command: String, reply: Frame)

    public var description: String {
        switch self {
        case .server(let command, let message): return "\(command): server replied \(message)"
        case .connectionClosed(let command, let address): return "\(command): \(address) closed the connection"
        case .unexpectedReply(let command, let reply): return "\(command): unexpected reply \(reply)"
        }
    }
}
