import Glibc
import Synchronization
import SystemPackage
import TorusRing

/// A socket descriptor and the operations every socket kind shares. Internal: the public
/// types (TCPStream, UnixStream, UDPSocket, listeners) wrap it.
final class SocketHandle: Sendable {
    /// Borrowed by every call that hands the number to the kernel (see ``SharedDescriptor``).
    let descriptor: SharedDescriptor
    /// The address used in error messages (the peer, or the bound address for listeners).
    let address: SocketAddress?
    /// The stream's send queue, once one was asked for: one per stream, so that two queues
    /// never interleave their bytes.
    let sendQueue = Mutex<QueuedSends?>(nil)

    init(descriptor: Int32, address: SocketAddress?) {
        self.descriptor = SharedDescriptor(descriptor)
        self.address = address
    }

    private init(sharing descriptor: SharedDescriptor, address: SocketAddress?) {
        self.descriptor = descriptor
        self.address = address
    }

    /// A new socket (`socket(2)`, close-on-exec).
    static func create(family: Int32, type: Int32, for address: SocketAddress) throws -> SocketHandle {
        let fd = try systemCall("socket", address: address) { socket(family, type | Int32(SOCK_CLOEXEC.rawValue), 0) }
        return SocketHandle(descriptor: fd, address: address)
    }

    /// The same descriptor under a handle that names `address` in its errors (a listener bound
    /// to port 0 names the port it got). This handle gives the descriptor up.
    func naming(_ address: SocketAddress) -> SocketHandle {
        SocketHandle(sharing: descriptor, address: address)
    }

    /// Borrows the descriptor for one call (give it back with `descriptor.giveBack()`), or
    /// throws `EBADF` once the socket is closing.
    func borrowDescriptor(for operation: String) throws -> Int32 {
        guard let fd = descriptor.borrow() else { throw IOError(operation: operation, address: address, errno: .badFileDescriptor) }
        return fd
    }

    var rawDescriptor: Int32 { descriptor.currentValue }

    /// Lends the open descriptor to `body`; a close meanwhile waits for `body` to return.
    func withDescriptor<R>(_ body: (FileDescriptor) throws -> R) throws -> R {
        let fd = try borrowDescriptor(for: "withDescriptor")
        defer { descriptor.giveBack() }
        return try body(FileDescriptor(rawValue: fd))
    }

    func setOption(_ level: Int32, _ name: Int32, _ value: Int32, operation: String) throws {
        var value = value
        let fd = try borrowDescriptor(for: operation)
        defer { descriptor.giveBack() }
        _ = try systemCall(operation, address: address) { setsockopt(fd, level, name, &value, socklen_t(MemoryLayout<Int32>.size)) }
    }

    func getOption(_ level: Int32, _ name: Int32, operation: String) throws -> Int32 {
        var value: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        let fd = try borrowDescriptor(for: operation)
        defer { descriptor.giveBack() }
        _ = try systemCall(operation, address: address) { getsockopt(fd, level, name, &value, &length) }
        return value
    }

    func bind(to address: SocketAddress) throws {
        let fd = try borrowDescriptor(for: "bind")
        defer { descriptor.giveBack() }
        var storage = sockaddr_storage()
        let length = address.write(to: &storage)
        _ = try systemCall("bind", address: address) {
            withUnsafePointer(to: &storage) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.bind(fd, $0, length) } }
        }
    }

    func listen(backlog: Int32) throws {
        let fd = try borrowDescriptor(for: "listen")
        defer { descriptor.giveBack() }
        _ = try systemCall("listen", address: address) { Glibc.listen(fd, backlog) }
    }

    func localAddress() throws -> SocketAddress { try name(peer: false) }
    func peerAddress() throws -> SocketAddress { try name(peer: true) }

    private func name(peer: Bool) throws -> SocketAddress {
        let operation = peer ? "getpeername" : "getsockname"
        let fd = try borrowDescriptor(for: operation)
        defer { descriptor.giveBack() }
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        _ = try systemCall(operation, address: address) {
            withUnsafeMutablePointer(to: &storage) { pointer in
                pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { peer ? getpeername(fd, $0, &length) : getsockname(fd, $0, &length) }
            }
        }
        guard let parsed = SocketAddress(reading: &storage, length: length) else {
            throw IOError(operation: operation, address: address, errno: .addressFamilyNotSupported)
        }
        return parsed
    }

    // MARK: ring operations

    /// `IORING_OP_CONNECT`.
    nonisolated(nonsending) func connect(to address: SocketAddress) async throws {
        let fd = try borrowDescriptor(for: "connect")
        defer { descriptor.giveBack() }
        let target = SocketAddressStorage(address)
        _ = try await ringIO("connect", address: address, keepAlive: target, holding: descriptor) { entry, _, _ in
            entry.prepareConnect(fd: fd, address: target.pointer, length: target.length)
        }
    }

    /// `IORING_OP_ACCEPT`; returns the new descriptor and the peer's address.
    nonisolated(nonsending) func accept() async throws -> (Int32, SocketAddress?) {
        let fd = try borrowDescriptor(for: "accept")
        defer { descriptor.giveBack() }
        let peer = SocketAddressStorage()
        let accepted = try await ringIOProducingDescriptor("accept", address: address, keepAlive: peer) { entry, _, _ in
            entry.prepareAccept(fd: fd, address: peer.pointer, length: peer.lengthPointer, flags: Int32(SOCK_CLOEXEC.rawValue), multishot: false)
        }
        return (accepted, peer.address)
    }

    /// `IORING_OP_RECV` into the free space of `buffer`.
    nonisolated(nonsending) func receive(into buffer: IOBuffer, maxLength: Int) async throws -> Int {
        let fd = try borrowDescriptor(for: "recv")
        defer { descriptor.giveBack() }
        let length = min(maxLength, buffer.freeCapacity, maximumTransfer)
        guard length > 0 else { return 0 }
        let target = buffer.storage + buffer.count
        let n = try await ringIO("recv", address: address, keepAlive: buffer, holding: descriptor) { entry, _, _ in
            entry.prepareReceive(fd: fd, buffer: target, length: length, flags: 0)
        }
        // A close's shutdown(2) (see `abort`) ends a waiting receive with 0 before its cancel
        // arrives: that is this side closing, not the peer's end of stream, which a reader
        // would take for the whole message (`readToEnd`, a last line).
        if n == 0, descriptor.isClosing { throw IOError(operation: "recv", address: address, errno: .canceled) }
        buffer.count += Int(n)
        return Int(n)
    }

    /// `IORING_OP_SEND` of `buffer[start..<count]` (`MSG_NOSIGNAL`: a closed peer is `EPIPE`,
    /// not a signal).
    nonisolated(nonsending) func send(_ buffer: IOBuffer, from start: Int) async throws -> Int {
        // A negative offset would send the heap bytes before the buffer.
        precondition(start >= 0 && start <= buffer.count, "a send from offset \(start) of a \(buffer.count)-byte buffer")
        let fd = try borrowDescriptor(for: "send")
        defer { descriptor.giveBack() }
        let length = min(buffer.count - start, maximumTransfer)
        guard length > 0 else { return 0 }
        let source = UnsafeRawPointer(buffer.storage + start)
        let n = try await ringIO("send", address: address, keepAlive: buffer, holding: descriptor) { entry, _, _ in
            entry.prepareSend(fd: fd, buffer: source, length: length, flags: Int32(MSG_NOSIGNAL))
        }
        return Int(n)
    }

    /// `IORING_OP_SENDMSG` of the bytes of `buffers` from `start` (counted across them), one
    /// iovec per buffer: a gathered write (`MSG_NOSIGNAL`, as ``send(_:from:)``).
    nonisolated(nonsending) func send(_ buffers: [IOBuffer], from start: Int) async throws -> Int {
        try await send(GatheredMessage(buffers, from: start, maximumLength: maximumTransfer))
    }

    /// `IORING_OP_SENDMSG` of a gathered message (`MSG_NOSIGNAL`); 0 without a system call when
    /// it covers no byte.
    nonisolated(nonsending) func send(_ message: GatheredMessage) async throws -> Int {
        let fd = try borrowDescriptor(for: "sendmsg")
        defer { descriptor.giveBack() }
        guard message.length > 0 else { return 0 }
        let n = try await ringIO("sendmsg", address: address, keepAlive: message, holding: descriptor) { entry, _, _ in
            entry.prepareSendMessage(fd: fd, message: message.header, flags: UInt32(MSG_NOSIGNAL))
        }
        return Int(n)
    }

    /// `IORING_OP_SHUTDOWN`.
    nonisolated(nonsending) func shutdown(_ how: Int32) async throws {
        let fd = try borrowDescriptor(for: "shutdown")
        defer { descriptor.giveBack() }
        _ = try await ringIO("shutdown", address: address) { entry, _, _ in entry.prepareShutdown(fd: fd, how: how) }
    }

    /// Closes the descriptor (`IORING_OP_CLOSE` on a core, `close(2)` elsewhere). Idempotent.
    /// Operations in flight on it (a receive another task waits in, an armed multishot receive
    /// or accept) are ended first: a `shutdown(2)` wakes the ones the kernel cannot cancel (a
    /// send an io-wq worker is blocked in), the rest are cancelled, and the number is closed
    /// after the last has completed.
    nonisolated(nonsending) func close() async throws {
        guard await descriptor.closeWhenUnused(abortBlockedOperations: SocketHandle.abort) else { return }
        try await closeDescriptor(descriptor.rawValue, address: address)
    }

    /// Closes from any thread without waiting: at once, or, when operations hold the
    /// descriptor, as the last of them ends (they are ended as by ``close()``).
    func closeNow() {
        descriptor.closeSoon(abortBlockedOperations: SocketHandle.abort)
    }

    /// Ends both directions so that waits on the socket end. Listening sockets and sockets
    /// never connected answer `ENOTCONN`; their waits (accepts) are cancelled instead.
    /// Not for datagram sockets: a receive waiting on a shut-down UDP socket completes with 0,
    /// which reads as an empty datagram (from nobody) rather than as the close; their waits are
    /// cancelled too (and a UDP send never waits for room).
    private static func abort(_ fd: Int32) {
        var type: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        if getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &length) == 0 && type == Int32(SOCK_DGRAM.rawValue) { return }
        _ = Glibc.shutdown(fd, Int32(SHUT_RDWR))
    }
}

/// A `sockaddr_storage` the kernel reads (connect, sendmsg) or fills (accept, recvmsg), kept
/// alive by the operation.
final class SocketAddressStorage {
    // SAFETY: heap memory owned by this object; the operation table keeps the object alive until
    // the operation's final completion.
    let pointer: UnsafeMutablePointer<sockaddr_storage>
    let lengthPointer: UnsafeMutablePointer<UInt32>

    init() {
        pointer = .allocate(capacity: 1)
        pointer.initialize(to: sockaddr_storage())
        lengthPointer = .allocate(capacity: 1)
        lengthPointer.initialize(to: UInt32(MemoryLayout<sockaddr_storage>.size))
    }

    convenience init(_ address: SocketAddress) {
        self.init()
        lengthPointer.pointee = address.write(to: pointer)
    }

    var length: UInt32 { lengthPointer.pointee }

    var address: SocketAddress? { SocketAddress(reading: pointer, length: socklen_t(lengthPointer.pointee)) }

    deinit {
        pointer.deallocate()
        lengthPointer.deallocate()
    }
}
