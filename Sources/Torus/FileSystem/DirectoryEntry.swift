import Glibc
import SystemPackage

/// One name in a directory, byte for byte as the kernel stores it.
///
/// A Linux file name is any bytes but `/` and NUL, not necessarily UTF-8. The name is a
/// `FilePath.Component` so that such a name survives the listing and can be opened again
/// (``File/open(_:inDirectory:path:options:permissions:via:)``, or `directory.appending(name)`);
/// `name.string` gives a `String` for display, which repairs invalid UTF-8 and so may no longer
/// name the file.
public struct DirectoryEntry: Sendable, Hashable {
    /// The entry's name: any bytes but `/` and NUL, exactly as stored.
    public var name: FilePath.Component
    /// What `readdir` said the entry is (`unknown` on file systems that do not say).
    public var kind: FileMetadata.Kind

    /// The name as a `String`, for display and logs: lossy, since bytes that are not valid
    /// UTF-8 become U+FFFD, so the result may not name the file (use ``name`` for that).
    public var lossyName: String { name.string }
}

extension FileSystem {
    /// Every entry `readdir` gives for the open `directory` stream but `.` and `..`. Runs on the
    /// blocking pool (a `readdir` may wait for the disk).
    static func readEntries(of directory: OpaquePointer, path: FilePath) throws -> [DirectoryEntry] {
        var entries: [DirectoryEntry] = []
        while true {
            errno = 0
            guard let entry = readdir(directory) else {
                if errno != 0 { throw IOError(operation: "readdir", path: path, errno: Errno(rawValue: errno)) }
                return entries
            }
            // SAFETY: `d_name` is a NUL-terminated array inside `entry`, valid until the next
            // readdir; the component copies the bytes before then.
            let name = withUnsafePointer(to: &entry.pointee.d_name) { tuple in
                tuple.withMemoryRebound(to: CChar.self, capacity: Int(NAME_MAX) + 1) { FilePath.Component(platformString: $0) }
            }
            // nil for "" (never returned); "." and ".." are components but not entries.
            guard let name, name.kind == .regular else { continue }
            // Linux's DT_* values are the S_IFMT bits shifted right by 12 (DT_REG 8, S_IFREG 0o100000).
            entries.append(DirectoryEntry(name: name, kind: FileMetadata.Kind(mode: UInt32(entry.pointee.d_type) << 12)))
        }
    }
}
