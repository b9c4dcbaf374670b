import Glibc
import Torus

/// A directory held open by its descriptor while the copy works inside it. Every name below it
/// is looked up relative to the descriptor (`openat`, `fstatat`, `mkdirat`, `renameat`...), so a
/// directory renamed or replaced by a symbolic link after it was opened cannot redirect the copy,
/// and each lookup is one path component instead of the whole path.
final class OpenDirectory: Sendable {
    let descriptor: Int32
    /// The descriptor in swift-system's type, as Torus's directory-relative calls take it.
    var fileDescriptor: FileDescriptor { FileDescriptor(rawValue: descriptor) }
    /// For messages: the path the directory was reached by.
    let path: FilePath
    private let owned: Bool

    private init(descriptor: Int32, path: FilePath, owned: Bool) {
        self.descriptor = descriptor
        self.path = path
        self.owned = owned
    }

    deinit { if owned { closeOwnedDescriptor(descriptor) } }

    /// The process's working directory (`AT_FDCWD`), for paths given on the command line.
    static let current = OpenDirectory(descriptor: AT_FDCWD, path: FilePath(""), owned: false)

    /// Opens `name` in `parent` as a directory. With `followLink: false` (inside a tree) a
    /// symbolic link there fails with `ELOOP`, so it is never walked into.
    /// - Parameter pathOnly: `O_PATH`, for a directory only looked up in (`openat`, `mkdirat`,
    ///   `renameat`...), never listed nor given attributes: it needs search permission only, as
    ///   cp does, so a write-only directory (mode 0333) can be copied into and a file in one
    ///   copied out.
    static func open(_ name: FilePath, in parent: OpenDirectory, followLink: Bool, pathOnly: Bool = false) throws -> OpenDirectory {
        let flags = (pathOnly ? O_PATH : O_RDONLY) | O_DIRECTORY | O_CLOEXEC | (followLink ? 0 : O_NOFOLLOW)
        let path = parent.path(of: name)
        let fd = try name.withPlatformString { name in try systemCall("open", path: path) { openat(parent.descriptor, name, flags) } }
        return OpenDirectory(descriptor: fd, path: path, owned: true)
    }

    /// The path of `name` inside this directory, for messages.
    func path(of name: FilePath) -> FilePath { path.pushing(name) }
}

/// A name inside an open directory: where a file is read from or written to.
struct Place: Sendable {
    let directory: OpenDirectory
    /// One component inside a tree; on the command line, the last component of the operand
    /// (or the whole operand when it has none, as `/`).
    let name: FilePath

    init(_ directory: OpenDirectory, _ name: FilePath) {
        self.directory = directory
        self.name = name
    }

    init(_ directory: OpenDirectory, _ name: FilePath.Component) {
        self.init(directory, FilePath(root: nil, [name]))
    }

    /// For messages.
    var path: FilePath { directory.path(of: name) }

    /// `name` in the directory `operand` names: its parent opened (following links, as on the
    /// command line), the last component kept. An operand without one (`/`) stays whole.
    static func operand(_ operand: FilePath) throws -> Place {
        guard let last = operand.lastComponent, last.kind == .regular else {
            return Place(.current, operand)
        }
        let parent = operand.removingLastComponent()
        if parent.isEmpty { return Place(.current, FilePath(root: nil, [last])) }
        return Place(try OpenDirectory.open(parent, in: .current, followLink: true, pathOnly: true), FilePath(root: nil, [last]))
    }
}
