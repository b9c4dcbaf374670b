import TorusRing
import SystemPackage
import Glibc

/// Which direction(s) of a connection ``TCPStream/shutdown(_:)`` ends.
public enum ShutdownDirection: Sendable {
    /// No more reads (`SHUT_RD`).
    case read
    /// No more writes: the peer reads end of stream (`SHUT_WR`), a half-close.
    case write
    /// Both (`SHUT_RDWR`).
    case both

    var how: Int32 {
        switch self {
        case .read: Int32(SHUT_RD)
        case .write: Int32(SHUT_WR)
        case .both: Int32(SHUT_RDWR)
        }
    }
}

/// A TCP connection. Reads (`IORING_OP_RECV`), writes (`IORING_OP_SEND`) and shutdowns are ring
/// operations on the caller's core.
///
/// `Sendable`: one task may read while another writes (``split()`` makes that explicit). End of
/// stream is a read of 0 bytes, not an error. Dropping the stream closes the descriptor.
public final class TCPStream: AsyncReader, AsyncWriter, Sendable {
    let handle: SocketHandle

    init(handle: SocketHandle) { self.handle = handle }

    /// Connects to `address` (`IORING_OP_CONNECT`).
    /// - Parameter timeout: give up after this long (the connect is cancelled in the kernel).
    /// - Throws: ``IOError`` (`connect 127.0.0.1:9: Connection refused (ECONNREFUSED)`),
    ///   ``TimeoutError``, `CancellationError`.
    public static func connect(to address: SocketAddress, timeout: Duration? = nil) async throws -> TCPStream {
        guard address.family != AF_UNIX else {
            throw IOError(operation: "connect", address: address, errno: .addressFamilyNotSupported)
        }
        let handle = try SocketHandle.create(family: address.family, type: Int32(SOCK_STREAM.rawValue), for: address)
        if let timeout {
            try await withTimeout(timeout) { try await handle.connect(to: address) }
        } else {
            try await handle.connect(to: address)
        }
        return TCPStream(handle: handle)
    }

    /// Connects to `address` given as text (`"127.0.0.1:8080"`, `"[::1]:8080"`).
    public static func connect(to address: String, timeout: Duration? = nil) async throws -> TCPStream {
        try await connect(to: SocketAddress(address), timeout: timeout)
    }

    public func read(into buffer: IOBuffer, maxLength: Int) async throws -> Int {
        try await handle.receive(into: buffer, maxLength: maxLength)
    }

    public func write(_ buffer: IOBuffer, from offset: Int) async throws -> Int {
        try await handle.send(buffer, from: offset)
    }

    /// Ends one or both directions (`IORING_OP_SHUTDOWN`); `.write` is a half-close.
    public func shutdown(_ direction: ShutdownDirection) async throws {
        try await handle.shutdown(direction.how)
    }

    /// Closes the connection. Idempotent.
    public func close() async throws { try await handle.close() }

    /// This end's address.
    public var localAddress: SocketAddress { get throws { try handle.localAddress() } }
    /// The other end's address.
    public var peerAddress: SocketAddress { get throws { try handle.peerAddress() } }

    /// `TCP_NODELAY`: send small writes at once instead of coalescing (Nagle).
    public func setNoDelay(_ enabled: Bool) throws {
        try handle.setOption(Int32(IPPROTO_TCP), TCP_NODELAY, enabled ? 1 : 0, operation: "setsockopt(TCP_NODELAY)")
    }

    public var noDelay: Bool { get throws { try handle.getOption(Int32(IPPROTO_TCP), TCP_NODELAY, operation: "getsockopt(TCP_NODELAY)") != 0 } }

    /// `SO_KEEPALIVE`: probe an idle peer.
    public func setKeepAlive(_ enabled: Bool) throws {
        try handle.setOption(SOL_SOCKET, SO_KEEPALIVE, enabled ? 1 : 0, operation: "setsockopt(SO_KEEPALIVE)")
    }

    public var keepAlive: Bool { get throws { try handle.getOption(SOL_SOCKET, SO_KEEPALIVE, operation: "getsockopt(SO_KEEPALIVE)") != 0 } }

    /// The raw descriptor (-1 once closed). Torus still owns it.
    public var fileDescriptor: Int32 { handle.rawDescriptor }

    /// The bytes this connection receives, chunk by chunk, through a multishot receive into the
    /// core's provided buffers: an idle connection holds no buffer. Iterate on one core.
    public func receivedChunks() throws -> ReceivedChunks {
        guard let core = Core.current else { throw RuntimeError.notOnRuntimeThread(operation: "receivedChunks") }
        return ReceivedChunks(receiver: makeMultishotReceiver(core: core, handle: handle, pool: try core.providedBufferRing()))
    }

    /// Sends every byte of a received chunk (no copy: the kernel reads the provided buffer,
    /// which stays out of the pool until the send completes).
    public func writeAll(_ chunk: ReceivedBuffer) async throws {
        let fd = try handle.fd(for: "send")
        var sent = 0
        while sent < chunk.count {
            let source = chunk.address + sent
            let length = chunk.count - sent
            sent += Int(try await ringIO("send", address: handle.address, keepAlive: chunk) { entry, _, _ in
                entry.prepareSend(fd: fd, buffer: source, length: length, flags: Int32(MSG_NOSIGNAL))
            })
        }
    }

    /// A read half and a write half, usable from different tasks (and cores).
    public func split() -> (ReadHalf, WriteHalf) { (ReadHalf(handle: handle), WriteHalf(handle: handle)) }
}

/// The reading side of a split stream.
public struct ReadHalf: AsyncReader, Sendable {
    let handle: SocketHandle
    public func read(into buffer: IOBuffer, maxLength: Int) async throws -> Int {
        try await handle.receive(into: buffer, maxLength: maxLength)
    }
}

/// The writing side of a split stream.
public struct WriteHalf: AsyncWriter, Sendable {
    let handle: SocketHandle
    public func write(_ buffer: IOBuffer, from offset: Int) async throws -> Int {
        try await handle.send(buffer, from: offset)
    }
    /// Half-closes the connection: the peer reads end of stream.
    public func shutdown() async throws { try await handle.shutdown(Int32(SHUT_WR)) }
}

/// A listening TCP socket; ``connections`` is the stream of accepted connections.
public final class TCPListener: Sendable {
    let handle: SocketHandle

    /// Binds and listens.
    /// - Parameters:
    ///   - backlog: pending connections the kernel queues (capped by `net.core.somaxconn`).
    ///   - reuseAddress: `SO_REUSEADDR` (default on: rebinding a port in TIME_WAIT works).
    ///   - reusePort: `SO_REUSEPORT`: several listeners (one per core) share the port and the
    ///     kernel spreads connections over them.
    /// - Throws: ``IOError`` (`bind 127.0.0.1:80: Address already in use (EADDRINUSE)`).
    public static func bind(_ address: SocketAddress, backlog: Int32 = 1024, reuseAddress: Bool = true, reusePort: Bool = false) throws -> TCPListener {
        guard address.family != AF_UNIX else {
            throw IOError(operation: "bind", address: address, errno: .addressFamilyNotSupported)
        }
        let handle = try SocketHandle.create(family: address.family, type: Int32(SOCK_STREAM.rawValue), for: address)
        if reuseAddress { try handle.setOption(SOL_SOCKET, SO_REUSEADDR, 1, operation: "setsockopt(SO_REUSEADDR)") }
        if reusePort { try handle.setOption(SOL_SOCKET, SO_REUSEPORT, 1, operation: "setsockopt(SO_REUSEPORT)") }
        try handle.bind(to: address)
        try handle.listen(backlog: backlog)
        return TCPListener(handle: handle)
    }

    /// `count` listeners on one address with `SO_REUSEPORT`, for a thread-per-core server: give
    /// one to each core's accept loop and the kernel spreads connections over them. The first is
    /// bound first, so that port 0 resolves to one port shared by all.
    public static func bindReusingPort(_ address: SocketAddress, count: Int, backlog: Int32 = 1024) throws -> [TCPListener] {
        let first = try bind(address, backlog: backlog, reusePort: true)
        let bound = try first.localAddress
        var listeners = [first]
        for _ in 1..<max(count, 1) { listeners.append(try bind(bound, backlog: backlog, reusePort: true)) }
        return listeners
    }

    /// Binds `address` given as text.
    public static func bind(_ address: String, backlog: Int32 = 1024, reuseAddress: Bool = true, reusePort: Bool = false) throws -> TCPListener {
        try bind(SocketAddress(address), backlog: backlog, reuseAddress: reuseAddress, reusePort: reusePort)
    }

    init(handle: SocketHandle) { self.handle = handle }

    /// The bound address (with the actual port when bound to port 0).
    public var localAddress: SocketAddress { get throws { try handle.localAddress() } }

    /// Accepts one connection (`IORING_OP_ACCEPT`). A connection accepted while the task was
    /// being cancelled is closed, not leaked.
    public func accept() async throws -> TCPStream {
        let (fd, peer) = try await handle.accept()
        return TCPStream(handle: SocketHandle(descriptor: fd, address: peer))
    }

    /// Accepted connections, one per iteration, from a multishot accept (one SQE for all of
    /// them); ends when the iterating task is cancelled, throws on accept errors (`EMFILE` when
    /// out of descriptors; iterating again continues). Iterate on one core.
    ///
    /// Under ``withTimeout(_:isolation:_:)`` or ``CancellationToken/run(isolation:_:)`` a wait
    /// for the next connection throws `CancellationError` when the scope ends it, and the
    /// multishot accept is cancelled; iterating again re-arms it.
    public var connections: Connections { Connections(listener: self) }

    public struct Connections: AsyncSequence, Sendable {
        let listener: TCPListener
        public func makeAsyncIterator() -> Iterator { Iterator(listener: listener) }
        public struct Iterator: AsyncIteratorProtocol {
            let listener: TCPListener
            var acceptor: MultishotLease<Int32>?

            public mutating func next() async throws -> TCPStream? {
                if acceptor == nil {
                    guard let core = Core.current else { throw RuntimeError.notOnRuntimeThread(operation: "TCPListener.connections") }
                    acceptor = MultishotLease(makeMultishotAcceptor(core: core, handle: listener.handle))
                }
                guard let fd = try await acceptor!.source.next(endOnCancel: true) else { return nil }
                return TCPStream(handle: SocketHandle(descriptor: fd, address: nil))
            }
        }
    }

    /// Stops listening. Idempotent.
    public func close() async throws { try await handle.close() }

    /// The raw descriptor (-1 once closed).
    public var fileDescriptor: Int32 { handle.rawDescriptor }
}
