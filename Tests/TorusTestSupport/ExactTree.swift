import Foundation

/// One entry of a tree as the kernel has it, for comparing copies byte for byte.
package struct ExactEntry: Equatable, CustomStringConvertible {
    package var type: mode_t
    package var permissions: mode_t
    /// Regular files: size and checksum of the contents; symbolic links: the target's bytes;
    /// devices: the device number.
    package var contents: String
    /// Modification time in nanoseconds (files, directories, links), when asked for.
    package var modified: Int? = nil
    /// Owner and group, and the link count of a regular file, when asked for.
    package var owner: String? = nil

    package var description: String {
        "type \(String(type >> 12, radix: 8)) mode \(String(permissions, radix: 8)) \(contents)" + (modified.map { " mtime \($0)" } ?? "")
            + (owner.map { " \($0)" } ?? "")
    }
}

/// Every entry under `root` keyed by its relative path's bytes (names that are not UTF-8
/// included), read with `opendir`/`readdir`/`lstat`/`readlink` only: no `String` in the way.
/// - Parameter withTimes: include the modification times of files and directories (for -p).
/// - Parameter withLinks: include owners and the link count of regular files (for -a).
package func exactTree(_ root: String, withTimes: Bool = false, withLinks: Bool = false) -> [[UInt8]: ExactEntry] {
    var result: [[UInt8]: ExactEntry] = [:]
    func walk(_ relative: [UInt8]) {
        let path = Array(root.utf8) + (relative.isEmpty ? [] : [UInt8(ascii: "/")] + relative)
        guard let directory = withCString(path, { opendir($0) }) else { return }
        defer { closedir(directory) }
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { Array($0.prefix(while: { $0 != 0 })) }
            if name == [46] || name == [46, 46] { continue }
            let childRelative = relative.isEmpty ? name : relative + [UInt8(ascii: "/")] + name
            let childPath = path + [UInt8(ascii: "/")] + name
            var status = stat()
            guard withCString(childPath, { lstat($0, &status) }) == 0 else { continue }
            let type = status.st_mode & S_IFMT
            var contents = ""
            switch type {
            case S_IFREG:
                let bytes = readAll(childPath)
                var checksum = Checksum()
                bytes.withUnsafeBytes { checksum.add($0) }
                contents = "\(bytes.count) bytes, \(checksum.value)"
            case S_IFLNK:
                var target = [CChar](repeating: 0, count: 4097)
                let count = withCString(childPath) { readlink($0, &target, 4096) }
                contents = "-> " + target.prefix(max(count, 0)).map { String(UInt8(bitPattern: $0), radix: 16) }.joined(separator: " ")
            case S_IFCHR, S_IFBLK:
                contents = "device \(status.st_rdev)"
            default:
                break
            }
            var entry = ExactEntry(type: type, permissions: status.st_mode & 0o7777, contents: contents)
            if withTimes && (type == S_IFREG || type == S_IFDIR || type == S_IFLNK) {
                entry.modified = status.st_mtim.tv_sec * 1_000_000_000 + status.st_mtim.tv_nsec
            }
            if withLinks {
                entry.owner = "owner \(status.st_uid):\(status.st_gid)" + (type == S_IFREG ? " links \(status.st_nlink)" : "")
            }
            result[childRelative] = entry
            if type == S_IFDIR { walk(childRelative) }
        }
    }
    walk([])
    return result
}

/// The whole contents of the file at the byte path `path` (the test fails on a read error).
package func readAll(_ path: [UInt8]) -> [UInt8] {
    let fd = withCString(path) { open($0, O_RDONLY) }
    guard fd >= 0 else { return [] }
    defer { close(fd) }
    var result: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 1 << 16)
    while true {
        let n = read(fd, &chunk, chunk.count)
        if n <= 0 { return result }
        result += chunk.prefix(n)
    }
}

/// Calls `body` with `bytes` as a NUL-terminated C string.
package func withCString<R>(_ bytes: [UInt8], _ body: (UnsafePointer<CChar>) -> R) -> R {
    (bytes + [0]).withUnsafeBufferPointer { buffer in
        buffer.withMemoryRebound(to: CChar.self) { body($0.baseAddress!) }
    }
}

/// Creates a regular file at the byte path `path` holding `contents`.
package func createFile(_ path: [UInt8], _ contents: [UInt8], mode: mode_t = 0o644) {
    let fd = withCString(path) { open($0, O_WRONLY | O_CREAT | O_TRUNC, mode) }
    precondition(fd >= 0, "create \(path): errno \(errno)")
    _ = contents.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
    fchmod(fd, mode)
    close(fd)
}
