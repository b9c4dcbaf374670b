import Glibc

/// Keeps a `SO_REUSEPORT` listener group to itself.
///
/// `SO_REUSEPORT` lets any socket of the same user join a port, and the kernel then splits
/// connections between every member: a second server started by mistake on a port in use
/// would bind without error and silently take half the clients. The kernel cannot be asked to
/// refuse newcomers, so after binding, the group checks the namespace's listening sockets
/// (`/proc/net/tcp`, `/proc/net/tcp6`) for one on its port that is not its own. Whichever
/// group binds second sees the first and gives up with `EADDRINUSE`; if both bind at the same
/// moment both may give up, never both serve.
enum ListenerGroupGuard {
    /// Throws `EADDRINUSE` if a listening socket other than `members` overlaps `address`
    /// (same port; same address, or either is a wildcard). Does nothing where `/proc/net`
    /// cannot be read.
    static func ensureAlone(_ address: SocketAddress, members: [SocketHandle]) throws {
        guard let port = address.port, let ours = rawAddress(address) else { return }
        var inodes: Set<UInt64> = []
        for member in members {
            var status = stat()
            let fd = try member.borrowDescriptor(for: "fstat")
            defer { member.descriptor.giveBack() }
            _ = try systemCall("fstat", address: address) { fstat(fd, &status) }
            inodes.insert(UInt64(status.st_ino))
        }
        for path in ["/proc/net/tcp", "/proc/net/tcp6"] {
            guard let table = readSmallFile(path) else { continue }
            for entry in listeningEntries(table) where entry.port == port && !inodes.contains(entry.inode) {
                if overlaps(entry.address, ours) {
                    throw IOError(operation: "bind", address: address, errno: .addressInUse)
                }
            }
        }
    }

    /// A listening socket in `/proc/net/tcp*`: its address bytes in network order.
    struct Entry {
        var address: [UInt8]
        var port: UInt16
        var inode: UInt64
    }

    /// The lines of a `/proc/net/tcp*` table in state LISTEN (`0A`). Columns: slot,
    /// local address (`0100007F:1F90`, each 32-bit word printed in host byte order), remote
    /// address, state, queues, timers, retransmits, uid, timeout, inode.
    ///
    /// Read as bytes, a line's columns only as far as needed: the table also lists every
    /// connection and TIME_WAIT socket (thousands on a busy host), nearly all of them skipped
    /// at their state column.
    static func listeningEntries(_ table: [UInt8]) -> [Entry] {
        var entries: [Entry] = []
        var lineStart = table.startIndex
        var isHeader = true
        while lineStart < table.endIndex {
            let lineEnd = table[lineStart...].firstIndex(of: UInt8(ascii: "\n")) ?? table.endIndex
            defer { lineStart = lineEnd + 1 }
            if isHeader {
                isHeader = false
                continue
            }
            let columns = table[lineStart..<lineEnd].split(separator: UInt8(ascii: " "), maxSplits: 10, omittingEmptySubsequences: true)
            guard columns.count > 9, columns[3].elementsEqual("0A".utf8) else { continue }
            if let entry = entry(local: columns[1], inode: columns[9]) { entries.append(entry) }
        }
        return entries
    }

    /// The same, from text (tests).
    static func listeningEntries(_ table: String) -> [Entry] { listeningEntries(Array(table.utf8)) }

    /// An entry from its local-address and inode columns.
    private static func entry(local: ArraySlice<UInt8>, inode: ArraySlice<UInt8>) -> Entry? {
        let parts = local.split(separator: UInt8(ascii: ":"))
        guard parts.count == 2, parts[0].count % 8 == 0,
            let port = UInt16(String(decoding: parts[1], as: UTF8.self), radix: 16),
            let inode = UInt64(String(decoding: inode, as: UTF8.self))
        else { return nil }
        var address: [UInt8] = []
        var word = parts[0][...]
        while !word.isEmpty {
            guard let value = UInt32(String(decoding: word.prefix(8), as: UTF8.self), radix: 16) else { return nil }
            // Printed as the host reads the word: its bytes in memory are the address's.
            withUnsafeBytes(of: value) { address += $0 }
            word = word.dropFirst(8)
        }
        return Entry(address: address, port: port, inode: inode)
    }

    /// Two listeners on one port collide when their addresses are equal or either is a
    /// wildcard (`0.0.0.0` or `::`, which may be dual-stack).
    static func overlaps(_ first: [UInt8], _ second: [UInt8]) -> Bool {
        first == second || first.allSatisfy { $0 == 0 } || second.allSatisfy { $0 == 0 }
    }

    /// The address's bytes in network order (nil for unix sockets).
    static func rawAddress(_ address: SocketAddress) -> [UInt8]? {
        switch address.kind {
        case .ipv4(let host, _): withUnsafeBytes(of: host.bigEndian) { Array($0) }
        case .ipv6(let bytes, _, _): bytes
        case .unix: nil
        }
    }

    /// A small file read whole (nil if it cannot be opened or read).
    static func readSmallFile(_ path: String) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 << 10)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { return count == 0 ? bytes : nil }
            bytes += chunk[..<count]
        }
    }
}
