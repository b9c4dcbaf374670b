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
            let fd = try member.fd(for: "fstat")
            if fstat(fd, &status) != 0 { throw IOError(operation: "fstat", address: address, errno: Errno(rawValue: errno)) }
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
    static func listeningEntries(_ table: String) -> [Entry] {
        table.split(separator: "\n").dropFirst().compactMap { line in
            let columns = line.split(separator: " ", omittingEmptySubsequences: true)
            guard columns.count > 9, columns[3] == "0A" else { return nil }
            let local = columns[1].split(separator: ":")
            guard local.count == 2, let port = UInt16(local[1], radix: 16), let inode = UInt64(columns[9]),
                  local[0].count % 8 == 0 else { return nil }
            var address: [UInt8] = []
            var word = local[0][...]
            while !word.isEmpty {
                guard let value = UInt32(word.prefix(8), radix: 16) else { return nil }
                // Printed as the host reads the word: its bytes in memory are the address's.
                withUnsafeBytes(of: value) { address += $0 }
                word = word.dropFirst(8)
            }
            return Entry(address: address, port: port, inode: inode)
        }
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

    /// A small text file read whole (nil if it cannot be opened).
    static func readSmallFile(_ path: String) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 << 10)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { return count == 0 ? String(decoding: bytes, as: UTF8.self) : nil }
            bytes += chunk[..<count]
        }
    }
}
