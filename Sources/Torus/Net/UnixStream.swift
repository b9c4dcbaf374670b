import Glibc
import SystemPackage

/// A unix-domain stream connection: the same API as ``TCPStream``, over a socket file.
///
/// **Cancel safety.** As ``TCPStream``'s: a cancelled read consumes nothing (or returns what it
/// received first), a cancelled write returns what it sent, and a cancelled connect or accept
/// leaves no descriptor open.
public final class UnixStream: AsyncReader, AsyncGatheringWriter, Sendable {
    let handle: SocketHandle

    init(handle: SocketHandle) { self.handle = handle }

    /// Connects to the socket at `path`.
    ///
    /// Cancel safety: a cancelled connect leaves nothing open; one that completed first returns
    /// its stream.
    public static func connect(to path: FilePath) async throws -> UnixStream {
        let address = try SocketAddress.unix(path: path.string)
        let handle = try SocketHandle.create(family: AF_UNIX, type: Int32(SOCK_STREAM.rawValue), for: address)
        try await handle.connect(to: address)
        return UnixStream(handle: handle)
    }

    /// Receives at most `maxLength` bytes into the free space of `buffer`; 0 at end of stream.
    ///
    /// Cancel safety: cancel safe: a cancelled read consumes nothing, and one that received
    /// bytes before the cancellation took effect returns them. Where it runs (and from an
    /// actor): as ``TCPStream/read(into:maxLength:)``.
    public nonisolated(nonsending) func read(into buffer: IOBuffer, maxLength: Int) async throws -> Int {
        try await handle.receiveWhereCalled(into: buffer, maxLength: maxLength)
    }

    /// Sends some of `buffer[offset..<count]` and returns how many bytes.
    ///
    /// Cancel safety: a cancelled write sends nothing and throws, or returns what it sent.
    public func write(_ buffer: IOBuffer, from offset: Int) async throws -> Int {
        try await handle.send(buffer, from: offset)
    }

    /// Sends some of the bytes of `buffers`, in order, from `offset` into their concatenation
    /// (one `sendmsg`), and returns how many bytes.
    ///
    /// Cancel safety: as ``write(_:from:)-(IOBuffer,_)``: it returns what it sent.
    public func write(_ buffers: [IOBuffer], from offset: Int) async throws -> Int {
        try await handle.send(buffers, from: offset)
    }

    /// Ends one or both directions; `.write` is a half-close.
    ///
    /// Cancel safety: `CancellationError` means the connection was not shut down.
    public func shutdown(_ direction: ShutdownDirection) async throws { try await handle.shutdown(direction.how) }

    /// Closes the connection. Idempotent.
    ///
    /// Cancel safety: the descriptor is closed whatever happens.
    public func close() async throws { try await handle.close() }

    /// A read half and a write half, usable from different tasks.
    public func split() -> (ReadHalf, WriteHalf) { (ReadHalf(handle: handle), WriteHalf(handle: handle)) }
}

/// A listening unix-domain stream socket.
public final class UnixListener: Sendable {
    let handle: SocketHandle
    /// The socket file.
    public let path: FilePath

    init(handle: SocketHandle, path: FilePath) {
        self.handle = handle
        self.path = path
    }

    /// Creates the socket file at `path` and listens.
    /// - Throws: ``IOError`` (`EADDRINUSE` when the file exists: remove a stale one first).
    public static func bind(_ path: FilePath, backlog: Int32 = 1024) throws -> UnixListener {
        let address = try SocketAddress.unix(path: path.string)
        let handle = try SocketHandle.create(family: AF_UNIX, type: Int32(SOCK_STREAM.rawValue), for: address)
        try handle.bind(to: address)
        try handle.listen(backlog: backlog)
        return UnixListener(handle: handle, path: path)
    }

    /// Accepts one connection.
    ///
    /// Cancel safety: as ``TCPListener/accept()``: pending connections stay queued and no
    /// descriptor leaks; one the kernel accepted just as the task was cancelled is closed.
    public func accept() async throws -> UnixStream {
        let (fd, _) = try await handle.accept()
        return UnixStream(handle: SocketHandle(descriptor: fd, address: handle.address))
    }

    /// Stops listening (the socket file stays; remove it with ``FileSystem/removeFile(at:)``).
    ///
    /// Cancel safety: the descriptor is closed whatever happens.
    public func close() async throws { try await handle.close() }
}
