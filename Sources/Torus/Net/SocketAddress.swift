import Glibc

/// An IPv4, IPv6 (with optional scope) or unix-domain socket address.
///
/// Parses and prints the usual forms:
/// `127.0.0.1:8080`, `[::1]:8080`, `[fe80::1%eth0]:8080`, `unix:/run/app.sock` (or just an
/// absolute path `/run/app.sock`).
public struct SocketAddress: Sendable, Hashable, CustomStringConvertible {
    enum Kind: Hashable, Sendable {
        case ipv4(address: UInt32, port: UInt16)  // both in host byte order
        case ipv6(address: [UInt8], port: UInt16, scope: UInt32)
        case unix(path: String)
    }

    let kind: Kind

    /// Parses `text`.
    /// - Throws: ``SocketAddressError`` quoting `text` and saying what is wrong with it.
    public init(_ text: String) throws(SocketAddressError) {
        // The C calls below (inet_pton, if_nametoindex) and the kernel read up to the first
        // NUL: "127.0.0.1\0junk:80" would be taken as 127.0.0.1, "unix:/tmp/a\0b" bind
        // /tmp/a (found by Fuzz/Targets/socket-address.swift).
        guard !text.utf8.contains(0) else { throw SocketAddressError(text, "a socket address cannot contain a NUL byte") }
        if text.hasPrefix("unix:") || text.hasPrefix("/") {
            let path = text.hasPrefix("unix:") ? String(text.dropFirst(5)) : text
            do {
                self = try .unix(path: path)
            } catch {
                throw SocketAddressError(text, error.reason)
            }
            return
        }
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { throw SocketAddressError(text, "missing ']' after an IPv6 address") }
            let inside = String(text[text.index(after: text.startIndex)..<close])
            let rest = text[text.index(after: close)...]
            guard rest.hasPrefix(":"), let port = Self.port(rest.dropFirst()) else {
                throw SocketAddressError(text, "expected ':PORT' (0-65535) after ']'")
            }
            try self.init(host: inside, port: port, original: text)
            return
        }
        guard let colon = text.lastIndex(of: ":") else { throw SocketAddressError(text, "expected HOST:PORT, [IPv6]:PORT or a unix path") }
        guard let port = Self.port(text[text.index(after: colon)...]) else {
            throw SocketAddressError(text, "the port must be a number from 0 to 65535")
        }
        let host = String(text[..<colon])
        if host.contains(":") { throw SocketAddressError(text, "an IPv6 address needs brackets: [\(host)]:\(port)") }
        try self.init(host: host, port: port, original: text)
    }

    /// A port written with digits only: `UInt16` alone would take "+80", which `HostAndPort`
    /// (and so `TCPStream.connect(to:)`) refuses (found by Fuzz/Targets/socket-address.swift).
    private static func port(_ text: Substring) -> UInt16? {
        guard !text.isEmpty, text.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) else { return nil }
        return UInt16(text)
    }

    /// An IP address (IPv4 dotted quad or IPv6, with `%scope` allowed) and a port.
    public init(host: String, port: UInt16) throws(SocketAddressError) {
        guard !host.utf8.contains(0) else { throw SocketAddressError(host, "a socket address cannot contain a NUL byte") }
        try self.init(host: host, port: port, original: host)
    }

    private init(host: String, port: UInt16, original: String) throws(SocketAddressError) {
        var v4 = in_addr()
        if inet_pton(AF_INET, host, &v4) == 1 {
            kind = .ipv4(address: UInt32(bigEndian: v4.s_addr), port: port)
            return
        }
        var address = host
        var scope: UInt32 = 0
        if let percent = host.firstIndex(of: "%") {
            address = String(host[..<percent])
            let scopeText = String(host[host.index(after: percent)...])
            if let numeric = UInt32(scopeText) {
                scope = numeric
            } else {
                scope = if_nametoindex(scopeText)
                if scope == 0 { throw SocketAddressError(original, "unknown network interface '\(scopeText)' in the scope") }
            }
        }
        var v6 = in6_addr()
        guard inet_pton(AF_INET6, address, &v6) == 1 else {
            throw SocketAddressError(original, "'\(host)' is not an IPv4 or IPv6 address")
        }
        let bytes = withUnsafeBytes(of: v6) { Array($0) }
        kind = .ipv6(address: bytes, port: port, scope: scope)
    }

    private init(kind: Kind) { self.kind = kind }

    /// A unix-domain socket path (at most 107 bytes).
    public static func unix(path: String) throws(SocketAddressError) -> SocketAddress {
        guard !path.isEmpty else { throw SocketAddressError(path, "the unix socket path is empty") }
        // A NUL would end the path the kernel looks up (or, first, make it an abstract name).
        guard !path.utf8.contains(0) else { throw SocketAddressError(path, "a unix socket path cannot contain a NUL byte") }
        guard path.utf8.count < 108 else { throw SocketAddressError(path, "a unix socket path must be shorter than 108 bytes") }
        return SocketAddress(kind: .unix(path: path))
    }

    /// `127.0.0.1:port`.
    public static func loopback(port: UInt16) -> SocketAddress {
        SocketAddress(kind: .ipv4(address: 0x7F00_0001, port: port))
    }

    /// `0.0.0.0:port`: every IPv4 interface.
    public static func anyIPv4(port: UInt16) -> SocketAddress {
        SocketAddress(kind: .ipv4(address: 0, port: port))
    }

    /// The port, for IP addresses.
    public var port: UInt16? {
        switch kind {
        case .ipv4(_, let port), .ipv6(_, let port, _): port
        case .unix: nil
        }
    }

    /// The host part as text (no port), or the unix path.
    public var host: String {
        switch kind {
        case .ipv4(let address, _):
            var raw = in_addr(s_addr: address.bigEndian)
            var text = [CChar](repeating: 0, count: Int(INET_ADDRSTRLEN))
            inet_ntop(AF_INET, &raw, &text, socklen_t(text.count))
            return String(decoding: text.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
        case .ipv6(let bytes, _, let scope):
            var raw = in6_addr()
            withUnsafeMutableBytes(of: &raw) { $0.copyBytes(from: bytes) }
            var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
            inet_ntop(AF_INET6, &raw, &text, socklen_t(text.count))
            let address = String(decoding: text.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
            return scope == 0 ? address : "\(address)%\(scope)"
        case .unix(let path):
            return path
        }
    }

    /// The address as ``SocketAddress/init(_:)`` parses it: `127.0.0.1:80`, `[::1]:80`,
    /// `unix:/path`.
    public var description: String {
        switch kind {
        case .ipv4(_, let port): "\(host):\(port)"
        case .ipv6(_, let port, _): "[\(host)]:\(port)"
        case .unix(let path): "unix:\(path)"
        }
    }

    /// The address family (`AF_INET`, `AF_INET6`, `AF_UNIX`).
    var family: Int32 {
        switch kind {
        case .ipv4: AF_INET
        case .ipv6: AF_INET6
        case .unix: AF_UNIX
        }
    }

    /// Writes the `sockaddr` into `storage` and returns its length.
    func write(to storage: UnsafeMutablePointer<sockaddr_storage>) -> socklen_t {
        storage.initialize(to: sockaddr_storage())
        switch kind {
        case .ipv4(let address, let port):
            return storage.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { pointer in
                pointer.pointee.sin_family = sa_family_t(AF_INET)
                pointer.pointee.sin_port = port.bigEndian
                pointer.pointee.sin_addr = in_addr(s_addr: address.bigEndian)
                return socklen_t(MemoryLayout<sockaddr_in>.size)
            }
        case .ipv6(let bytes, let port, let scope):
            return storage.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { pointer in
                pointer.pointee.sin6_family = sa_family_t(AF_INET6)
                pointer.pointee.sin6_port = port.bigEndian
                withUnsafeMutableBytes(of: &pointer.pointee.sin6_addr) { $0.copyBytes(from: bytes) }
                pointer.pointee.sin6_scope_id = scope
                return socklen_t(MemoryLayout<sockaddr_in6>.size)
            }
        case .unix(let path):
            return storage.withMemoryRebound(to: sockaddr_un.self, capacity: 1) { pointer in
                pointer.pointee.sun_family = sa_family_t(AF_UNIX)
                withUnsafeMutableBytes(of: &pointer.pointee.sun_path) { raw in
                    raw.copyBytes(from: Array(path.utf8) + [0])
                }
                return socklen_t(MemoryLayout<sa_family_t>.size + path.utf8.count + 1)
            }
        }
    }

    /// Reads a `sockaddr` the kernel filled in.
    init?(reading storage: UnsafePointer<sockaddr_storage>, length: socklen_t) {
        switch Int32(storage.pointee.ss_family) {
        case AF_INET:
            let address = storage.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { $0.pointee }
            kind = .ipv4(address: UInt32(bigEndian: address.sin_addr.s_addr), port: UInt16(bigEndian: address.sin_port))
        case AF_INET6:
            let address = storage.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { $0.pointee }
            let bytes = withUnsafeBytes(of: address.sin6_addr) { Array($0) }
            kind = .ipv6(address: bytes, port: UInt16(bigEndian: address.sin6_port), scope: address.sin6_scope_id)
        case AF_UNIX:
            let path = storage.withMemoryRebound(to: sockaddr_un.self, capacity: 1) { pointer in
                withUnsafeBytes(of: pointer.pointee.sun_path) { raw in
                    String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
                }
            }
            kind = .unix(path: path)
        default:
            return nil
        }
    }
}

/// A socket address string that could not be parsed.
public struct SocketAddressError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The text as given.
    public var input: String
    /// What is wrong with it.
    public var reason: String

    init(_ input: String, _ reason: String) {
        self.input = input
        self.reason = reason
    }

    /// The input and what is wrong with it.
    public var description: String { "invalid socket address \"\(input)\": \(reason)" }
}
