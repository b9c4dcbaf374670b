// libFuzzer target: SocketAddress(text) and HostAndPort(parsing:) (Sources/Torus/Net).
import Glibc

//
// Input: the text (any bytes, decoded as UTF-8 with repairs, as a command-line argument is).
// Properties:
// - it never crashes;
// - an accepted address prints as text that parses back to the same address, and printing
//   that again gives the same text (a fixed point);
// - an accepted text holds no NUL (C's inet_pton would stop there and read a prefix);
// - a unix path fits sun_path with its terminating NUL;
// - an IP address it accepts is also a HOST:PORT that HostAndPort splits into the same address. (HostAndPort may keep a NUL
//   in the host: HostName.validate refuses it before any look-up, HostNameTests.)

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSocketAddress(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let bytes = size > 0 ? Array(UnsafeBufferPointer(start: data, count: size)) : []
    let text = String(decoding: bytes, as: UTF8.self)
    var parsed: SocketAddress?
    if let address = try? SocketAddress(text) {
        parsed = address
        fuzzCheck(!text.utf8.contains(0), "accepted text with a NUL: \(Array(text.utf8))")
        let printed = address.description
        guard let again = try? SocketAddress(printed) else {
            fatalError("property violated: \(printed) (from \(Array(text.utf8))) does not parse")
        }
        fuzzCheck(again == address, "\(printed) parses to \(again)")
        fuzzCheck(again.description == printed, "\(printed) prints as \(again.description)")
        if case .unix(let path) = address.kind { fuzzCheck(path.utf8.count < 108, "unix path of \(path.utf8.count) bytes") }
        var storage = sockaddr_storage()
        let length = address.write(to: &storage)
        fuzzCheck(Int(length) <= MemoryLayout<sockaddr_storage>.size, "sockaddr length \(length)")
        fuzzCheck(SocketAddress(reading: &storage, length: length) == address, "sockaddr round trip of \(printed)")
    }
    let split = try? HostAndPort(parsing: text)
    if let split { fuzzCheck(!split.host.isEmpty, "empty host") }
    // An IP address written as text is also a HOST:PORT that names it (what
    // `TCPStream.connect(to:)` and `SocketAddress.resolve(_:)` take).
    if let parsed, let port = parsed.port {
        guard let split else { fatalError("property violated: \(Array(text.utf8)) is an address but not a HOST:PORT") }
        fuzzCheck(port == split.port, "ports differ: \(port) and \(split.port)")
        fuzzCheck((try? SocketAddress(host: split.host, port: split.port)) == parsed, "the host of \(Array(text.utf8)) is another address")
    }
    return 0
}
