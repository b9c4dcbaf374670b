import Glibc
import SystemPackage

// Descriptors Torus did not open: a file opened elsewhere, standard input, or a socket handed
// over by systemd's socket activation (`LISTEN_FDS`). Adopting one makes Torus its owner: every
// operation holds it (see `SharedDescriptor`), and it is closed with the object. An adoption
// that throws leaves the descriptor open and the caller's.

extension File {
    /// Takes ownership of an open descriptor: reads and writes go through the ring, and Torus
    /// closes it when the file is closed or deinitialised (don't close it yourself).
    /// - Parameters:
    ///   - descriptor: an open descriptor; the new `File` owns it.
    ///   - path: for error messages.
    /// - Throws: ``IOError`` naming `adopt` and `path`: `EBADF` when `descriptor` is not open.
    public convenience init(adopting descriptor: FileDescriptor, path: FilePath) throws {
        _ = try systemCall("adopt", path: path) { fcntl(descriptor.rawValue, F_GETFD) }
        self.init(descriptor: descriptor.rawValue, path: path)
    }

    /// Runs `body` with the open descriptor, which stays open until `body` returns even if
    /// another task closes the file meanwhile (that close waits). For system calls Torus has no
    /// method for (`ioctl`, `flock`, ...); don't close the descriptor or keep it after `body`.
    /// - Throws: ``IOError`` (`EBADF`) when the file is closed; whatever `body` throws.
    public func withDescriptor<R>(_ body: (FileDescriptor) throws -> R) throws -> R {
        let fd = try borrowDescriptor(for: "withDescriptor")
        defer { sharedDescriptor.giveBack() }
        return try body(FileDescriptor(rawValue: fd))
    }
}

extension SocketHandle {
    /// A handle owning `descriptor` after checking that it is an open socket of `type`
    /// (`SO_TYPE`) that is listening or not as `listening` says (`SO_ACCEPTCONN`).
    static func adopting(_ descriptor: FileDescriptor, type: Int32, listening: Bool) throws -> SocketHandle {
        let fd = descriptor.rawValue
        var value: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        _ = try systemCall("adopt") { getsockopt(fd, SOL_SOCKET, SO_TYPE, &value, &length) }
        guard value == type else { throw IOError(operation: "adopt", errno: Errno(rawValue: EPROTOTYPE)) }
        length = socklen_t(MemoryLayout<Int32>.size)
        _ = try systemCall("adopt") { getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &value, &length) }
        guard (value != 0) == listening else { throw IOError(operation: "adopt", errno: listening ? .invalidArgument : .socketIsConnected) }
        let probe = SocketHandle(descriptor: fd, address: nil)
        // Name the socket in errors: a listener by its own address, a stream by its peer's.
        let address = try? (listening ? probe.localAddress() : probe.peerAddress())
        return address.map { probe.naming($0) } ?? probe
    }
}

extension TCPStream {
    /// Takes ownership of a connected stream socket (`SOCK_STREAM`), accepted or connected
    /// elsewhere; Torus closes it with the stream.
    /// - Throws: ``IOError`` naming `adopt`: `EBADF` (not open), `ENOTSOCK` (not a socket),
    ///   `EPROTOTYPE` (not a stream socket), `EISCONN` (a listening socket: adopt it as a
    ///   ``TCPListener``).
    public convenience init(adopting descriptor: FileDescriptor) throws {
        self.init(handle: try SocketHandle.adopting(descriptor, type: Int32(SOCK_STREAM.rawValue), listening: false))
    }
}

extension TCPListener {
    /// Takes ownership of a listening stream socket, such as one systemd passes to a
    /// socket-activated service (descriptor 3 and up, `LISTEN_FDS`); Torus closes it with the
    /// listener. Accept from it with ``accept()`` or ``connections`` as from a bound listener.
    /// - Throws: ``IOError`` naming `adopt`: `EBADF`, `ENOTSOCK`, `EPROTOTYPE`, or `EINVAL` when
    ///   the socket is not listening.
    public convenience init(adopting descriptor: FileDescriptor) throws {
        self.init(handle: try SocketHandle.adopting(descriptor, type: Int32(SOCK_STREAM.rawValue), listening: true))
    }
}
