import Glibc
import TorusChannels

// Host names to addresses. `getaddrinfo` blocks (files, then DNS, for seconds when a name
// server does not answer) and io_uring has no such operation, so it runs on the runtime's
// blocking pool; the core only awaits a oneshot channel, which is what makes a cancelled or
// timed-out look-up return at once instead of when the pool thread is done.

extension SocketAddress {
    /// The addresses of `host` for a TCP connection to `port`, in `getaddrinfo`'s order (RFC
    /// 6724's preference), duplicates removed.
    ///
    /// An IP address (`127.0.0.1`, `::1`, `fe80::1%eth0`) is returned as it is, without a
    /// look-up. A name is looked up with `getaddrinfo` (`AF_UNSPEC`, `SOCK_STREAM`: the hosts
    /// file, then DNS, as `/etc/nsswitch.conf` says) on the runtime's blocking pool, so the
    /// core keeps running its other tasks meanwhile.
    ///
    /// ```swift
    /// let addresses = try await SocketAddress.resolve(host: "localhost", port: 6379)  // [127.0.0.1:6379]
    /// ```
    ///
    /// Cancel safety: a cancelled look-up, or one whose ``withTimeout(_:isolation:_:)``
    /// deadline passes, throws at once. `getaddrinfo` itself cannot be interrupted: it finishes
    /// on its pool thread and its result is dropped (it holds nothing that could leak).
    /// - Throws: ``HostResolutionError`` naming the host and saying why (`getaddrinfo
    ///   "nosuch.invalid": Name or service not known (EAI_NONAME)`), also for a name that is
    ///   empty, longer than DNS allows, holding a NUL byte or all digits and dots (a mistyped
    ///   IPv4 address), which are refused without a look-up; `CancellationError`;
    ///   ``RuntimeError/notOnRuntimeThread(operation:)`` off a Torus core,
    ///   ``RuntimeError/shuttingDown`` once the blocking pool is closed.
    public static func resolve(host: String, port: UInt16) async throws -> [SocketAddress] {
        if let literal = try? SocketAddress(host: host, port: port) { return [literal] }
        try HostName.validate(host)
        guard let core = Core.current else { throw RuntimeError.notOnRuntimeThread(operation: "SocketAddress.resolve") }
        try checkWaitCancellation()
        let (sender, receiver) = Oneshot.channel(Result<[SocketAddress], HostResolutionError>.self)
        let accepted = core.shared.blockingPool.submit {
            sender.send(Result { () throws(HostResolutionError) in try lookUp(host: host, port: port) })
        }
        guard accepted else { throw RuntimeError.shuttingDown }
        do {
            return try await receiver.value.get()
        } catch OneshotError.senderDropped {
            // The pool dropped the work without running it: it is shutting down.
            throw RuntimeError.shuttingDown
        }
    }

    /// The addresses of `"host:port"` (`"localhost:6379"`, `"[::1]:6379"`,
    /// `"127.0.0.1:6379"`); see ``resolve(host:port:)``.
    ///
    /// Cancel safety: as ``resolve(host:port:)``: a cancelled look-up throws at once.
    /// - Throws: ``SocketAddressError`` quoting `text` when it is not `HOST:PORT` (no port, a
    ///   port over 65535, an empty host, an IPv6 address without brackets); otherwise as
    ///   ``resolve(host:port:)``.
    public static func resolve(_ text: String) async throws -> [SocketAddress] {
        let target = try HostAndPort(parsing: text)
        return try await resolve(host: target.host, port: target.port)
    }

    /// `getaddrinfo` for a stream socket to `port`; blocks. Runs on a blocking-pool thread.
    static func lookUp(host: String, port: UInt16) throws(HostResolutionError) -> [SocketAddress] {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_protocol = Int32(IPPROTO_TCP)
        // The port as a numeric service, so that every address comes back with it set and the
        // services database is never read.
        hints.ai_flags = AI_NUMERICSERV
        var list: UnsafeMutablePointer<addrinfo>?
        let code = getaddrinfo(host, String(port), &hints, &list)
        let systemErrno = errno
        guard code == 0 else {
            // On failure getaddrinfo allocates nothing: there is no list to free.
            throw HostResolutionError(host: host, getaddrinfoCode: code, systemErrno: systemErrno)
        }
        // SAFETY: getaddrinfo allocated the list; it is only read between here and the
        // `freeaddrinfo` below, which runs on every path out of this function, and every
        // address is copied out of it before then.
        defer { freeaddrinfo(list) }
        var addresses: [SocketAddress] = []
        var entry = list
        while let current = entry {
            entry = current.pointee.ai_next
            if let address = SocketAddress(copying: current.pointee.ai_addr, length: current.pointee.ai_addrlen),
                !addresses.contains(address)
            {
                addresses.append(address)
            }
        }
        guard !addresses.isEmpty else {
            throw HostResolutionError(host: host, code: .noAddress, reason: "no IPv4 or IPv6 address")
        }
        return addresses
    }

    /// Reads a `sockaddr` of `length` bytes that the C library owns (one `addrinfo` entry's).
    /// It is copied into a `sockaddr_storage` first: the entry is only as long as its family's
    /// `sockaddr`, and reading it as a whole `sockaddr_storage` would read past its end.
    init?(copying raw: UnsafeMutablePointer<sockaddr>?, length: socklen_t) {
        guard let raw, length > 0, Int(length) <= MemoryLayout<sockaddr_storage>.size else { return nil }
        var storage = sockaddr_storage()
        withUnsafeMutableBytes(of: &storage) { $0.copyMemory(from: UnsafeRawBufferPointer(start: raw, count: Int(length))) }
        self.init(reading: &storage, length: length)
    }
}

/// What DNS allows of a name, checked before a look-up: a name it could never resolve is
/// refused at once, with the reason, instead of going to the name servers.
enum HostName {
    /// DNS's limits (RFC 1035): 255 bytes on the wire, which is 253 written with dots (a
    /// trailing dot, the root, not counted), and 63 per label.
    static let maximumLength = 253
    static let maximumLabelLength = 63

    static func validate(_ host: String) throws(HostResolutionError) {
        func refuse(_ reason: String) -> HostResolutionError { HostResolutionError(host: host, code: .invalidName, reason: reason) }
        let bytes = Array(host.utf8)
        guard !bytes.isEmpty else { throw refuse("the host name is empty") }
        guard !bytes.contains(0) else { throw refuse("the host name contains a NUL byte") }
        let name = bytes.last == UInt8(ascii: ".") ? bytes.dropLast() : bytes[...]
        guard name.count <= maximumLength else {
            throw refuse("the host name is \(name.count) bytes long; DNS allows at most \(maximumLength)")
        }
        // No top-level domain is all digits (RFC 3696), so such a name is a mistyped IPv4
        // address; getaddrinfo would read it the way inet_aton does ("1.2.3" as 1.2.0.3) and
        // connect somewhere unintended.
        if name.allSatisfy({ $0 == UInt8(ascii: ".") || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }) {
            throw refuse("not an IPv4 address (four numbers from 0 to 255) nor a host name")
        }
        for label in name.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false) {
            guard !label.isEmpty else { throw refuse("the host name has an empty label (two dots in a row, or a leading dot)") }
            guard label.count <= maximumLabelLength else {
                throw refuse("a label of the host name is \(label.count) bytes long; DNS allows at most \(maximumLabelLength)")
            }
        }
    }
}
