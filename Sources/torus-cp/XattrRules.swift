import Glibc

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

/// The contents of a small text file, or nil if it cannot be read.
private func readTextFile(_ path: String) -> String? {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 4096)
    while true {
        let n = read(fd, &chunk, chunk.count)
        if n < 0 && errno == EINTR { continue }
        if n < 0 { return nil }
        if n == 0 { return String(decoding: bytes, as: UTF8.self) }
        bytes += chunk.prefix(n)
    }
}
