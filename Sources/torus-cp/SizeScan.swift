import Glibc
import Synchronization
import Torus

/// Adds up the bytes a copy will move, for --progress's percentage and ETA. cp never knows the
/// total; torus-cp learns it from a walk of its own on the blocking pool while the copy runs
/// (only when progress is shown), so the copy never waits for it.
enum SizeScan {
    /// Set to stop a walk early (the copy finished or was interrupted).
    final class Stop: Sendable {
        let requested = Atomic<Bool>(false)
    }

    /// The size of every regular file in `sources` (walking directories when `recursive`), or
    /// nil if stopped first.
    static func total(of sources: [FilePath], recursive: Bool, followLinks: Bool, stop: Stop) -> UInt64? {
        var total: UInt64 = 0
        for source in sources {
            // On the command line a symbolic link is followed as the copy follows it (inside a
            // tree never: an estimate).
            guard let bytes = size(of: source, followLink: followLinks, recursive: recursive, stop: stop) else { return nil }
            total += bytes
        }
        return total
    }

    private static func size(of path: FilePath, followLink: Bool, recursive: Bool, stop: Stop) -> UInt64? {
        if stop.requested.load(ordering: .relaxed) { return nil }
        var status = stat()
        guard path.withPlatformString({ followLink ? stat($0, &status) : lstat($0, &status) }) == 0 else { return 0 }
        switch status.st_mode & S_IFMT {
        case S_IFREG:
            return UInt64(max(0, status.st_size))
        case S_IFDIR where recursive:
            guard let directory = path.withPlatformString({ opendir($0) }) else { return 0 }
            defer { closedir(directory) }
            var total: UInt64 = 0
            while let entry = readdir(directory) {
                // SAFETY: `d_name` is NUL-terminated inside `entry`, valid until the next readdir;
                // the component copies it (bytes, not a String: any name is found again).
                let name = withUnsafePointer(to: &entry.pointee.d_name) { tuple in
                    tuple.withMemoryRebound(to: CChar.self, capacity: Int(NAME_MAX) + 1) { FilePath.Component(platformString: $0) }
                }
                guard let name, name.kind == .regular else { continue }
                guard let bytes = size(of: path.appending(name), followLink: false, recursive: true, stop: stop) else { return nil }
                total += bytes
            }
            return total
        default:
            return 0
        }
    }
}
