import Glibc
import SystemPackage
import TorusRing

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
///
/// **Cancel safety.** Every operation waits for the kernel's final word after a cancellation:
/// a cancelled read takes no byte from the connection, or, if bytes arrived before the cancel
/// took effect, returns them; a cancelled write sends nothing, or returns how much it sent. So a
/// read under ``withTimeout(_:isolation:_:)`` (whose deadline cancels it in the kernel the same
/// way) can be retried in a loop without losing data, and the connection stays usable.
public final class TCPStream: AsyncReader, AsyncGatheringWriter, Sendable {
    let handle: SocketHandle

    init(handle: SocketHandle) { self.handle = handle }

    /// Connects to `address` (`IORING_OP_CONNECT`).
    /// - Parameters:
    ///   - address: the peer, IPv4 or IPv6.
    ///   - timeout: give up after this long (the connect is cancelled in the kernel).
    ///
    /// Cancel safety: a cancelled (or timed-out) connect leaves nothing open: the kernel's
    /// connect is cancelled and the half-made socket is closed. A connect that completed before
    /// the cancel took effect returns its stream.
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

    /// Connects to `address` given as text: `"localhost:6379"`, `"127.0.0.1:8080"`,
    /// `"[::1]:8080"`. A host name is resolved and its addresses raced as
    /// ``connect(host:port:timeout:)`` does.
    ///
    /// Cancel safety: as with a ``SocketAddress``: nothing is left open.
    /// - Throws: ``SocketAddressError`` when `address` is not `HOST:PORT`; otherwise as
    ///   ``connect(host:port:timeout:)``.
    public static func connect(to address: String, timeout: Duration? = nil) async throws -> TCPStream {
        try await connect(text: address, timeout: timeout)
    }

    /// Receives at most `maxLength` bytes into the free space of `buffer` (`IORING_OP_RECV`);
    /// 0 at end of stream.
    ///
    /// Cancel safety: cancel safe. A cancelled read consumes nothing: the bytes stay in the
    /// socket for the next read. A read that received bytes before the cancellation (or
    /// deadline) took effect returns them instead of throwing.
    ///
    /// Runs where it is called, without an executor switch on the way in or out. Called from an
    /// actor, it receives on the task's own core (at most 1 MiB per call) and appends to
    /// `buffer` back on the actor; while it waits, a second read into the same buffer (the
    /// actor re-entered) throws ``IOError`` with `EBUSY` and takes nothing from the stream.
    public nonisolated(nonsending) func read(into buffer: IOBuffer, maxLength: Int) async throws -> Int {
        try await handle.receiveWhereCalled(into: buffer, maxLength: maxLength)
    }

    /// Sends some of `buffer[offset..<count]` (`IORING_OP_SEND`) and returns how many bytes.
    ///
    /// Cancel safety: a cancelled write sends nothing and throws, or, if the kernel sent bytes
    /// first, returns their count: the caller always knows what went out.
    public func write(_ buffer: IOBuffer, from offset: Int) async throws -> Int {
        try await handle.send(buffer, from: offset)
    }

    /// Sends some of the bytes of `buffers`, in order, from `offset` bytes into their
    /// concatenation (`IORING_OP_SENDMSG`, an iovec per buffer), and returns how many bytes.
    ///
    /// Cancel safety: as ``write(_:from:)-(IOBuffer,_)``: the caller always knows what went out.
    public func write(_ buffers: [IOBuffer], from offset: Int) async throws -> Int {
        try await handle.send(buffers, from: offset)
    }

    /// Ends one or both directions (`IORING_OP_SHUTDOWN`); `.write` is a half-close.
    ///
    /// Cancel safety: `CancellationError` means the connection was not shut down.
    public func shutdown(_ direction: ShutdownDirection) async throws {
        try await handle.shutdown(direction.how)
    }

    /// Closes the connection. Idempotent.
    ///
    /// Calls other tasks (on any core) have in flight on the stream are ended first (a
    /// `shutdown(2)`, then a cancel) and waited for: a read throws `ECANCELED` (never a made-up
    /// end of stream), a send `ECANCELED` or `EPIPE`, ``receivedChunks()`` throws. The
    /// descriptor is closed after the last of them has completed.
    ///
    /// Cancel safety: the descriptor is closed whatever happens (in a cancelled task with a
    /// plain `close(2)`).
    public func close() async throws { try await handle.close() }

    /// Ends both directions at once with a plain `shutdown(2)`, from any thread: a send or
    /// receive waiting on this connection fails now. For dropping a connection whose peer does
    /// not read: cancelling a task may not interrupt its send once the kernel has handed the
    /// send to an io-wq worker (it blocks there on a full socket), and closing the descriptor
    /// does not either; a shutdown does. A connection already ended is not an error.
    public func abort() throws {
        guard let fd = handle.descriptor.borrow() else { return }
        defer { handle.descriptor.giveBack() }
        do {
            _ = try systemCall("shutdown", address: handle.address) { Glibc.shutdown(fd, Int32(SHUT_RDWR)) }
        } catch {
            // ENOTCONN: already ended, which is not an error here.
            guard error.errno == .socketNotConnected else { throw error }
        }
    }

    /// This end's address.
    public var localAddress: SocketAddress { get throws { try handle.localAddress() } }
    /// The other end's address.
    public var peerAddress: SocketAddress { get throws { try handle.peerAddress() } }

    /// `TCP_NODELAY`: send small writes at once instead of coalescing (Nagle).
    public func setNoDelay(_ enabled: Bool) throws {
        try handle.setOption(Int32(IPPROTO_TCP), TCP_NODELAY, enabled ? 1 : 0, operation: "setsockopt(TCP_NODELAY)")
    }

    /// Whether `TCP_NODELAY` is set.
    public var noDelay: Bool { get throws { try handle.getOption(Int32(IPPROTO_TCP), TCP_NODELAY, operation: "getsockopt(TCP_NODELAY)") != 0 } }

    /// `SO_KEEPALIVE`: probe an idle peer.
    public func setKeepAlive(_ enabled: Bool) throws {
        try handle.setOption(SOL_SOCKET, SO_KEEPALIVE, enabled ? 1 : 0, operation: "setsockopt(SO_KEEPALIVE)")
    }

    /// Whether `SO_KEEPALIVE` is set.
    public var keepAlive: Bool { get throws { try handle.getOption(SOL_SOCKET, SO_KEEPALIVE, operation: "getsockopt(SO_KEEPALIVE)") != 0 } }

    /// The bytes this connection receives, chunk by chunk, through a multishot receive into the
    /// core's provided buffers: an idle connection holds no buffer. Iterate on one core.
    ///
    /// Cancel safety: see ``ReceivedChunks``: a `next()` stopped by cancellation or by a
    /// deadline takes nothing, and the receive stays armed, so chunks that arrive meanwhile come
    /// out of the next call.
    public func receivedChunks() throws -> ReceivedChunks {
        guard let core = Core.current else { throw RuntimeError.notOnRuntimeThread(operation: "receivedChunks") }
        return ReceivedChunks(receiver: makeMultishotReceiver(core: core, handle: handle, pool: try core.receiveBufferPool()))
    }

    /// Sends every byte of a received chunk (no copy: the kernel reads the provided buffer,
    /// which stays out of the pool until the send completes).
    ///
    /// Cancel safety: as writing an ``IOBuffer`` with `writeAll`: cancellation stops the loop
    /// between sends, and how much of the chunk went out is not reported.
    public func writeAll(_ chunk: ReceivedBuffer) async throws {
        let fd = try handle.borrowDescriptor(for: "send")
        defer { handle.descriptor.giveBack() }
        var sent = 0
        while sent < chunk.count {
            let source = chunk.address + sent
            let length = chunk.count - sent
            sent += Int(
                try await ringIO("send", address: handle.address, keepAlive: chunk, holding: handle.descriptor) { entry, _, _ in
                    entry.prepareSend(fd: fd, buffer: source, length: length, flags: Int32(MSG_NOSIGNAL))
                })
        }
    }

    /// Sends every byte of several received chunks, in order, with one gathered write
    /// (`sendmsg`, an iovec per chunk; more only after a short write), without copying them.
    ///
    /// Cancel safety: as ``writeAll(_:)-(ReceivedBuffer)``: cancellation stops the loop between
    /// sends, and how much of the chunks went out is not reported.
    public func writeAll(_ chunks: [ReceivedBuffer]) async throws {
        let total = chunks.reduce(0) { $0 + $1.count }
        var sent = 0
        while sent < total {
            sent += try await handle.send(GatheredMessage(chunks, from: sent, maximumLength: maximumTransfer))
        }
    }

    /// A read half and a write half, usable from different tasks (and cores).
    public func split() -> (ReadHalf, WriteHalf) { (ReadHalf(handle: handle), WriteHalf(handle: handle)) }
}

/// The reading side of a split stream.
public struct ReadHalf: AsyncReader, Sendable {
    let handle: SocketHandle
    /// Receives into the free space of `buffer`.
    ///
    /// Cancel safety: as ``TCPStream/read(into:maxLength:)``: a cancelled read consumes nothing.
    public nonisolated(nonsending) func read(into buffer: IOBuffer, maxLength: Int) async throws -> Int {
        try await handle.receiveWhereCalled(into: buffer, maxLength: maxLength)
    }
}

/// The writing side of a split stream.
public struct WriteHalf: AsyncGatheringWriter, Sendable {
    let handle: SocketHandle
    /// Sends some of `buffer[offset..<count]`.
    ///
    /// Cancel safety: as ``TCPStream/write(_:from:)-(IOBuffer,_)``: the count of what went out is returned.
    public func write(_ buffer: IOBuffer, from offset: Int) async throws -> Int {
        try await handle.send(buffer, from: offset)
    }
    /// Sends some of the bytes of `buffers`, in order, from `offset` into their concatenation.
    ///
    /// Cancel safety: as ``TCPStream/write(_:from:)-([IOBuffer],_)``.
    public func write(_ buffers: [IOBuffer], from offset: Int) async throws -> Int {
        try await handle.send(buffers, from: offset)
    }
    /// Half-closes the connection: the peer reads end of stream.
    ///
    /// Cancel safety: `CancellationError` means the connection was not shut down.
    public func shutdown() async throws { try await handle.shutdown(Int32(SHUT_WR)) }
}

/// A listening TCP socket; ``connections`` is the stream of accepted connections.
public final class TCPListener: Sendable {
    let handle: SocketHandle

    /// Binds and listens.
    /// - Parameters:
    ///   - address: the address to listen on (port 0: the kernel picks one, see ``localAddress``).
    ///   - backlog: pending connections the kernel queues (capped by `net.core.somaxconn`).
    ///   - reuseAddress: `SO_REUSEADDR` (default on: rebinding a port in TIME_WAIT works).
    ///   - reusePort: `SO_REUSEPORT`: several listeners (one per core) share the port and the
    ///     kernel spreads connections over them.
    /// - Throws: ``IOError`` (`bind 127.0.0.1:80: Address already in use (EADDRINUSE)`).
    public static func bind(_ address: SocketAddress, backlog: Int32 = 1024, reuseAddress: Bool = true, reusePort: Bool = false) throws -> TCPListener
    {
        guard address.family != AF_UNIX else {
            throw IOError(operation: "bind", address: address, errno: .addressFamilyNotSupported)
        }
        let handle = try SocketHandle.create(family: address.family, type: Int32(SOCK_STREAM.rawValue), for: address)
        if reuseAddress { try handle.setOption(SOL_SOCKET, SO_REUSEADDR, 1, operation: "setsockopt(SO_REUSEADDR)") }
        if reusePort { try handle.setOption(SOL_SOCKET, SO_REUSEPORT, 1, operation: "setsockopt(SO_REUSEPORT)") }
        try handle.bind(to: address)
        try handle.listen(backlog: backlog)
        // Errors (an accept out of descriptors) name the port actually bound, not port 0.
        if address.port == 0 { return TCPListener(handle: handle.naming(try handle.localAddress())) }
        return TCPListener(handle: handle)
    }

    /// `count` listeners on one address with `SO_REUSEPORT`, for a thread-per-core server: give
    /// one to each core's accept loop and the kernel spreads connections over them. The first is
    /// bound first, so that port 0 resolves to one port shared by all.
    ///
    /// The group is kept to itself: `SO_REUSEPORT` would let any other process of the same user
    /// bind the port too and silently take a share of the connections (a second server started
    /// by mistake). After binding, the group looks for listening sockets on its port that are
    /// not its own (in `/proc/net/tcp` and `/proc/net/tcp6`, same address or a wildcard) and
    /// fails with `EADDRINUSE` if there is one, closing its listeners. Whichever group binds
    /// second sees the first, so two servers never both serve one port. Pass
    /// `allowSharing: true` to join others on purpose (a zero-downtime restart that overlaps).
    /// - Throws: ``IOError`` (`bind 127.0.0.1:6379: Address already in use (EADDRINUSE)`).
    public static func bindReusingPort(_ address: SocketAddress, count: Int, backlog: Int32 = 1024, allowSharing: Bool = false) throws
        -> [TCPListener]
    {
        let first = try bind(address, backlog: backlog, reusePort: true)
        let bound = try first.localAddress
        var listeners = [first]
        for _ in 1..<max(count, 1) { listeners.append(try bind(bound, backlog: backlog, reusePort: true)) }
        if !allowSharing {
            do {
                try ListenerGroupGuard.ensureAlone(bound, members: listeners.map(\.handle))
            } catch {
                for listener in listeners { listener.handle.closeNow() }
                throw error
            }
        }
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
    ///
    /// Cancel safety: a cancelled accept leaves pending connections in the listener's queue for
    /// the next accept, and leaks no descriptor. In the narrow race where the kernel accepted a
    /// connection just as the task was cancelled, that connection is closed (its client sees
    /// the connection end): the cancelled task could not serve it. Under a
    /// ``withTimeout(_:isolation:_:)`` deadline nothing is dropped: an accept that completed
    /// before the deadline cancelled it returns its stream.
    public func accept() async throws -> TCPStream {
        let (fd, peer) = try await handle.accept()
        return TCPStream(handle: SocketHandle(descriptor: fd, address: peer))
    }

    /// Accepted connections, one per iteration, from a multishot accept (one SQE for all of
    /// them); ends when the iterating task is cancelled. Iterate on one core.
    ///
    /// Running out of descriptors or memory does not end it: on `EMFILE`, `ENFILE`, `ENOMEM` or
    /// `ENOBUFS` it waits (10 ms, doubling up to a second while the shortage lasts) and accepts
    /// again, so the waiting clients are served once descriptors are freed; a client that gave
    /// up before it was accepted (`ECONNABORTED`) is skipped. Other errors are thrown.
    ///
    /// Cancel safety: the kernel accepts connections as they come, ahead of `next()`. When the
    /// task is cancelled, iteration hands out the connections already accepted, then ends and
    /// stops the multishot accept; connections the kernel accepted but nobody took are closed
    /// when the iterator goes away (no descriptor leaks, but those clients see their connection
    /// end). A `next()` stopped by a ``withTimeout(_:isolation:_:)`` deadline throws
    /// `CancellationError` instead and keeps accepting: connections that come meanwhile are
    /// handed out by the next call. Dropping the iterator (a `break` out of the loop) cancels
    /// the multishot accept.
    public var connections: Connections { Connections(listener: self, onShortage: { _ in }) }

    /// ``connections`` that reports the first failure of each shortage (`EMFILE`, `ENFILE`,
    /// `ENOMEM`, `ENOBUFS`) to `onShortage`, to log it: once when it starts, not on every
    /// retry.
    public func connections(onShortage: @escaping @Sendable (IOError) -> Void) -> Connections {
        Connections(listener: self, onShortage: onShortage)
    }

    /// The connections a ``TCPListener`` accepts, as an `AsyncSequence` (multishot accept).
    public struct Connections: AsyncSequence, Sendable {
        let listener: TCPListener
        let onShortage: @Sendable (IOError) -> Void
        /// Returns an iterator; its first `next()` arms the multishot accept on the caller's core.
        public func makeAsyncIterator() -> Iterator { Iterator(listener: listener, onShortage: onShortage) }
        /// Hands out accepted connections; dropping it cancels the multishot accept.
        public struct Iterator: AsyncIteratorProtocol {
            let listener: TCPListener
            let onShortage: @Sendable (IOError) -> Void
            var acceptor: MultishotLease<Int32>?
            /// The pause before accepting again while a shortage lasts.
            var backoff = Self.firstBackoff
            /// Whether a shortage is under way (reported already).
            var inShortage = false

            static var firstBackoff: Duration { .milliseconds(10) }
            static var longestBackoff: Duration { .seconds(1) }

            /// The next accepted connection; nil once the task is cancelled.
            ///
            /// Cancel safety: see ``TCPListener/connections``: connections already accepted
            /// are handed out first, and a deadline keeps the accept armed for the next call.
            public mutating func next() async throws -> TCPStream? {
                if acceptor == nil {
                    guard let core = Core.current else { throw RuntimeError.notOnRuntimeThread(operation: "TCPListener.connections") }
                    acceptor = MultishotLease(makeMultishotAcceptor(core: core, handle: listener.handle))
                }
                while true {
                    do {
                        guard let fd = try await acceptor!.source.next(endOnCancel: true) else { return nil }
                        backoff = Self.firstBackoff
                        inShortage = false
                        return TCPStream(handle: SocketHandle(descriptor: fd, address: nil))
                    } catch let error as IOError where error.isTransientAcceptFailure {
                        // The kernel ended the multishot accept; the next call arms it again.
                        if error.errno == .connectionAbort { continue }
                        if !inShortage { onShortage(error) }
                        inShortage = true
                        do {
                            try await sleep(for: backoff)
                        } catch is CancellationError where Task.isCancelled {
                            // Cancelled: the sequence ends, as it does while waiting to accept
                            // (a deadline's CancellationError is thrown instead).
                            return nil
                        }
                        backoff = Swift.min(backoff * 2, Self.longestBackoff)
                    }
                }
            }
        }
    }

    /// Stops listening. Idempotent.
    ///
    /// Cancel safety: the descriptor is closed whatever happens.
    public func close() async throws { try await handle.close() }
}
