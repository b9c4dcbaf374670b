import SystemPackage

// The descriptor of each socket type, in swift-system's vocabulary: for the socket options and
// calls Torus has no method for (`setsockopt(SO_LINGER)`, `ioctl`, ...). The socket keeps owning
// it; `withDescriptor` is the safe form (a close waits for the closure), `descriptor` a plain
// look whose number may name another file once the socket is closed.

extension TCPStream {
    /// The open descriptor (raw value -1 once closed). Torus still owns it: don't close it, and
    /// don't use it after ``close()`` (the number may then name another file).
    public var descriptor: FileDescriptor { FileDescriptor(rawValue: handle.rawDescriptor) }

    /// Runs `body` with the open descriptor, which stays open until `body` returns even if
    /// another task closes the stream meanwhile (that close waits). Don't close the descriptor
    /// or keep it after `body`.
    /// - Throws: ``IOError`` (`EBADF`) when the stream is closed; whatever `body` throws.
    public func withDescriptor<R>(_ body: (FileDescriptor) throws -> R) throws -> R { try handle.withDescriptor(body) }
}

extension TCPListener {
    /// The listening descriptor (raw value -1 once closed). Torus still owns it: don't close it.
    public var descriptor: FileDescriptor { FileDescriptor(rawValue: handle.rawDescriptor) }

    /// Runs `body` with the listening descriptor, which stays open until `body` returns (a
    /// close meanwhile waits). Don't close the descriptor or keep it after `body`.
    /// - Throws: ``IOError`` (`EBADF`) when the listener is closed; whatever `body` throws.
    public func withDescriptor<R>(_ body: (FileDescriptor) throws -> R) throws -> R { try handle.withDescriptor(body) }
}

extension UDPSocket {
    /// The open descriptor (raw value -1 once closed). Torus still owns it: don't close it.
    public var descriptor: FileDescriptor { FileDescriptor(rawValue: handle.rawDescriptor) }

    /// Runs `body` with the open descriptor, which stays open until `body` returns (a close
    /// meanwhile waits). Don't close the descriptor or keep it after `body`.
    /// - Throws: ``IOError`` (`EBADF`) when the socket is closed; whatever `body` throws.
    public func withDescriptor<R>(_ body: (FileDescriptor) throws -> R) throws -> R { try handle.withDescriptor(body) }
}

extension UnixStream {
    /// The open descriptor (raw value -1 once closed). Torus still owns it: don't close it.
    public var descriptor: FileDescriptor { FileDescriptor(rawValue: handle.rawDescriptor) }

    /// Runs `body` with the open descriptor, which stays open until `body` returns (a close
    /// meanwhile waits). Don't close the descriptor or keep it after `body`.
    /// - Throws: ``IOError`` (`EBADF`) when the stream is closed; whatever `body` throws.
    public func withDescriptor<R>(_ body: (FileDescriptor) throws -> R) throws -> R { try handle.withDescriptor(body) }
}

extension UnixListener {
    /// The listening descriptor (raw value -1 once closed). Torus still owns it: don't close it.
    public var descriptor: FileDescriptor { FileDescriptor(rawValue: handle.rawDescriptor) }

    /// Runs `body` with the listening descriptor, which stays open until `body` returns (a
    /// close meanwhile waits). Don't close the descriptor or keep it after `body`.
    /// - Throws: ``IOError`` (`EBADF`) when the listener is closed; whatever `body` throws.
    public func withDescriptor<R>(_ body: (FileDescriptor) throws -> R) throws -> R { try handle.withDescriptor(body) }
}
