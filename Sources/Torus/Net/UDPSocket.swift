import Glibc
import SystemPackage
import TorusRing

/// A UDP socket: datagrams sent and received through the ring (`IORING_OP_SENDMSG` /
/// `RECVMSG` with an address, `SEND` / `RECV` once connected).
///
/// **Cancel safety.** Datagrams are never split or lost by a cancellation: a cancelled receive
/// takes no datagram (it stays queued in the socket for the next receive), or returns the one
/// it received before the cancel took effect; a cancelled send sends the whole datagram and
/// returns its size, or sends nothing and throws. A ``withTimeout(_:isolation:_:)`` deadline
/// stops them the same way.
public final class UDPSocket: Sendable {
    let handle: SocketHandle

    init(handle: SocketHandle) { self.handle = handle }

    /// A socket bound to `address` (port 0: the kernel picks one).
    public static func bind(_ address: SocketAddress, reuseAddress: Bool = false, reusePort: Bool = false) throws -> UDPSocket {
        guard address.family != AF_UNIX else { throw IOError(operation: "bind", address: address, errno: .addressFamilyNotSupported) }
        let handle = try SocketHandle.create(family: address.family, type: Int32(SOCK_DGRAM.rawValue), for: address)
        if reuseAddress { try handle.setOption(SOL_SOCKET, SO_REUSEADDR, 1, operation: "setsockopt(SO_REUSEADDR)") }
        if reusePort { try handle.setOption(SOL_SOCKET, SO_REUSEPORT, 1, operation: "setsockopt(SO_REUSEPORT)") }
        try handle.bind(to: address)
        return UDPSocket(handle: handle)
    }

    /// Binds `address` given as text.
    public static func bind(_ address: String) throws -> UDPSocket { try bind(SocketAddress(address)) }

    /// The bound address.
    public var localAddress: SocketAddress { get throws { try handle.localAddress() } }

    /// Sets the default destination and filters incoming datagrams to that peer (`connect(2)`;
    /// no packet is sent).
    public func connect(to address: SocketAddress) throws {
        let fd = try handle.borrowDescriptor(for: "connect")
        defer { handle.descriptor.giveBack() }
        var storage = sockaddr_storage()
        let length = address.write(to: &storage)
        _ = try systemCall("connect", address: address) {
            withUnsafePointer(to: &storage) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, length) } }
        }
    }

    /// Sends one datagram of `buffer[0..<count]` to `address`.
    ///
    /// Cancel safety: all or nothing: `CancellationError` means the datagram was not sent.
    @discardableResult
    public func send(_ buffer: IOBuffer, to address: SocketAddress) async throws -> Int {
        let fd = try handle.borrowDescriptor(for: "sendmsg")
        defer { handle.descriptor.giveBack() }
        let message = MessageHeader(buffer: buffer, start: 0, length: buffer.count, address: address)
        return Int(
            try await ringIO("sendmsg", address: address, keepAlive: message, holding: handle.descriptor) { entry, _, _ in
                entry.prepareSendMessage(fd: fd, message: message.header, flags: UInt32(MSG_NOSIGNAL))
            })
    }

    /// Sends `bytes` as one datagram to `address`.
    ///
    /// Cancel safety: all or nothing, as sending an ``IOBuffer``.
    @discardableResult
    public func send(_ bytes: some Collection<UInt8>, to address: SocketAddress) async throws -> Int {
        try await send(IOBuffer(bytes), to: address)
    }

    /// Receives one datagram into the free space of `buffer`; returns its size and sender. A
    /// datagram longer than the free space is truncated (as `recvmsg` does).
    ///
    /// Cancel safety: cancel safe. A cancelled receive takes no datagram: the next receive gets
    /// it. One that received a datagram before the cancellation took effect returns it.
    public func receive(into buffer: IOBuffer) async throws -> (count: Int, sender: SocketAddress?) {
        let fd = try handle.borrowDescriptor(for: "recvmsg")
        defer { handle.descriptor.giveBack() }
        let message = MessageHeader(buffer: buffer, start: buffer.count, length: buffer.freeCapacity, address: nil)
        let n = try await ringIO("recvmsg", address: handle.address, keepAlive: message, holding: handle.descriptor) { entry, _, _ in
            entry.prepareReceiveMessage(fd: fd, message: message.header, flags: 0)
        }
        buffer.count += Int(n)
        return (Int(n), message.senderAddress)
    }

    /// Sends to the connected peer.
    ///
    /// Cancel safety: all or nothing: `CancellationError` means the datagram was not sent.
    @discardableResult
    public func send(_ buffer: IOBuffer) async throws -> Int { try await handle.send(buffer, from: 0) }

    /// Receives from the connected peer.
    ///
    /// Cancel safety: cancel safe, as the receive that reports the sender: no datagram is lost.
    public func receive(into buffer: IOBuffer) async throws -> Int {
        try await handle.receive(into: buffer, maxLength: buffer.freeCapacity)
    }

    /// Closes the socket. Idempotent.
    ///
    /// Cancel safety: the descriptor is closed whatever happens.
    public func close() async throws { try await handle.close() }
}

/// A `struct msghdr` with one iovec and an address, kept alive by the operation.
final class MessageHeader {
    // SAFETY: all three allocations are owned here and freed in deinit; the operation table
    // keeps this object (and `buffer`, the memory the iovec points into) alive until the final
    // completion.
    let header: UnsafeMutablePointer<msghdr>
    let vector: UnsafeMutablePointer<iovec>
    let address = SocketAddressStorage()
    let buffer: IOBuffer

    init(buffer: IOBuffer, start: Int, length: Int, address target: SocketAddress?) {
        self.buffer = buffer
        vector = .allocate(capacity: 1)
        vector.initialize(to: iovec(iov_base: buffer.storage + start, iov_len: length))
        header = .allocate(capacity: 1)
        header.initialize(to: msghdr())
        if let target { address.lengthPointer.pointee = target.write(to: address.pointer) }
        header.pointee.msg_name = UnsafeMutableRawPointer(address.pointer)
        header.pointee.msg_namelen = address.lengthPointer.pointee
        header.pointee.msg_iov = vector
        header.pointee.msg_iovlen = 1
    }

    /// The sender's address after a receive.
    var senderAddress: SocketAddress? {
        SocketAddress(reading: address.pointer, length: header.pointee.msg_namelen)
    }

    deinit {
        header.deallocate()
        vector.deallocate()
    }
}
