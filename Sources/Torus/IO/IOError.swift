import SystemPackage
import TorusRing

/// An I/O operation failed: which operation, on which path or address, and the errno.
///
/// ```
/// open "/etc/shadow": Permission denied (EACCES)
/// connect 127.0.0.1:9: Connection refused (ECONNREFUSED)
/// ```
public struct IOError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The operation, as its system call is called (`open`, `read`, `connect`, ...).
    public var operation: String
    /// The file the operation was about, if any.
    public var path: FilePath?
    /// The socket address the operation was about, if any.
    public var address: SocketAddress?
    /// The system error.
    public var errno: Errno

    /// An error for `operation` on `path` or `address` that failed with `errno`.
    public init(operation: String, path: FilePath? = nil, address: SocketAddress? = nil, errno: Errno) {
        self.operation = operation
        self.path = path
        self.address = address
        self.errno = errno
    }

    /// The operation, its subject and the error, as `open "/x": No such file or directory
    /// (ENOENT)`.
    public var description: String {
        var subject = ""
        if let path { subject = " \"\(path)\"" }
        if let address { subject += " \(address)" }
        return "\(operation)\(subject): \(errno.description) (\(IOError.name(of: errno)))"
    }

    // Conveniences for matching the common cases.
    /// Whether the file or directory does not exist (`ENOENT`).
    public var isNotFound: Bool { errno == .noSuchFileOrDirectory }
    /// Whether permission was refused (`EACCES` or `EPERM`).
    public var isPermissionDenied: Bool { errno == .permissionDenied || errno == .notPermitted }
    /// Whether nothing listens at the address (`ECONNREFUSED`).
    public var isConnectionRefused: Bool { errno == .connectionRefused }
    /// Whether the peer reset the connection (`ECONNRESET`).
    public var isConnectionReset: Bool { errno == .connectionReset }
    /// Whether the peer is gone for writing (`EPIPE`).
    public var isBrokenPipe: Bool { errno == .brokenPipe }
    /// Whether the address is taken (`EADDRINUSE`).
    public var isAddressInUse: Bool { errno == .addressInUse }
    /// An accept failure that concerns one connection (`ECONNABORTED`: the client gave up) or a
    /// passing shortage (`EMFILE`, `ENFILE`, `ENOMEM`, `ENOBUFS`), not the listener: a server
    /// keeps accepting (after a pause, for a shortage).
    public var isTransientAcceptFailure: Bool {
        [Errno.connectionAbort, .tooManyOpenFiles, .tooManyOpenFilesInSystem, .noMemory, .noBufferSpace].contains(errno)
    }

    static func name(of errno: Errno) -> String { errno.symbolicName }
}

/// The stream ended before the bytes a caller needed arrived (``AsyncReader/readExactly(_:)``).
public struct UnexpectedEndOfStream: Error, Sendable, CustomStringConvertible {
    /// Bytes wanted and bytes received before the end.
    public var expected: Int
    /// Bytes received before the end.
    public var received: Int
    /// Says how many bytes came of how many.
    public var description: String { "end of stream after \(received) of \(expected) bytes" }
}

/// A ring operation cancelled in the kernel completes with `ECANCELED`: to deadline scopes,
/// tokens and `select` (TorusChannels), that is the wait being cancelled, not a failure.
extension IOError: CancellationReporting {
    package var reportsCancellation: Bool { errno == .canceled }
}
