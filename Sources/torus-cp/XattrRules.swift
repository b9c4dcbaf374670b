import Glibc
import Torus

/// Which extended attributes --preserve=xattr leaves out: the rules of `/etc/xattr.conf`, read as
/// GNU cp reads them (through libattr), so that both copy the same attributes. A line is a
/// pattern (`fnmatch`, as `user.Beagle.*`) and an action: `skip` (never copied) or `permissions`
/// (copied only with the permissions: POSIX ACLs, which cp copies with the mode, not with the
/// extended attributes); `#` starts a comment. The first pattern that matches decides. Without
/// the file, nothing is left out.
struct XattrRules: Sendable {
    private let excluded: [String]

    init(configuration text: String) {
        excluded = text.split(separator: "\n").compactMap { line in
            let words = line.prefix(while: { $0 != "#" }).split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard words.count >= 2, words[1] == "skip" || words[1] == "permissions" else { return nil }
            return String(words[0])
        }
    }

    /// The rules of `/etc/xattr.conf` (none if it cannot be read).
    static let system = XattrRules(configuration: readTextFile("/etc/xattr.conf") ?? "")

    /// Whether the attribute `name` is copied with the extended attributes.
    func copies(_ name: String) -> Bool {
        !excluded.contains { fnmatch($0, name, 0) == 0 }
    }
}

/// The contents of a small text file, or nil if it cannot be read (no such file, no permission:
/// then there are no rules to apply, as for cp).
private func readTextFile(_ path: String) -> String? {
    guard let fd = try? systemCall("open", path: FilePath(path), { open(path, O_RDONLY | O_CLOEXEC) }) else { return nil }
    // Read-only: a failed close loses nothing (the number is released either way, never retried).
    defer { closeOwnedDescriptor(fd) }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 4096)
    while true {
        guard let n = try? systemCall("read", path: FilePath(path), { read(fd, &chunk, chunk.count) }) else { return nil }
        if n == 0 { return String(decoding: bytes, as: UTF8.self) }
        bytes += chunk.prefix(n)
    }
}
