/// `"host:port"` split into its parts, before the host is resolved: `localhost:6379`,
/// `127.0.0.1:6379`, `[::1]:6379` (an IPv6 address needs its brackets, as in a URL).
struct HostAndPort: Equatable {
    var host: String
    var port: UInt16

    /// Splits `text`; the errors read as ``SocketAddress``'s own parsing errors.
    init(parsing text: String) throws(SocketAddressError) {
        let hostPart: Substring
        let portPart: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { throw SocketAddressError(text, "missing ']' after an IPv6 address") }
            hostPart = text[text.index(after: text.startIndex)..<close]
            let rest = text[text.index(after: close)...]
            guard rest.hasPrefix(":") else { throw SocketAddressError(text, "expected ':PORT' (0-65535) after ']'") }
            portPart = rest.dropFirst()
        } else {
            guard let colon = text.lastIndex(of: ":") else { throw SocketAddressError(text, "expected HOST:PORT or [IPv6]:PORT") }
            hostPart = text[..<colon]
            portPart = text[text.index(after: colon)...]
            if hostPart.contains(":") { throw SocketAddressError(text, "an IPv6 address needs brackets: [\(hostPart)]:\(portPart)") }
        }
        guard !hostPart.isEmpty else { throw SocketAddressError(text, "the host is empty") }
        // Digits only: `UInt16` alone would take "+80".
        guard !portPart.isEmpty, portPart.allSatisfy(\.isASCIIDigit), let port = UInt16(portPart) else {
            throw SocketAddressError(text, "the port must be a number from 0 to 65535")
        }
        host = String(hostPart)
        self.port = port
    }
}

extension Character {
    fileprivate var isASCIIDigit: Bool { isASCII && isNumber }
}
