import Glibc
import SystemPackage
import TorusRing

/// What `statx` says about a file.
public struct FileMetadata: Sendable, Equatable {
    /// The kind of file.
    public enum Kind: Sendable, Hashable {
        /// The file types of `S_IFMT`: regular file, directory, symbolic link, FIFO, socket, block
        /// device, character device; `unknown` when the file system did not say (a `readdir`
        /// entry's `DT_UNKNOWN`).
        case regular, directory, symbolicLink, fifo, socket, blockDevice, characterDevice, unknown

        /// The kind encoded in the `S_IFMT` bits of a mode.
        init(mode: UInt32) {
            switch mode & UInt32(S_IFMT) {
            case UInt32(S_IFREG): self = .regular
            case UInt32(S_IFDIR): self = .directory
            case UInt32(S_IFLNK): self = .symbolicLink
            case UInt32(S_IFIFO): self = .fifo
            case UInt32(S_IFSOCK): self = .socket
            case UInt32(S_IFBLK): self = .blockDevice
            case UInt32(S_IFCHR): self = .characterDevice
            default: self = .unknown
            }
        }
    }

    /// The size in bytes (`stx_size`); for a symbolic link, the length of its target.
    public var size: UInt64
    /// Bytes of storage allocated (`st_blocks * 512`); less than ``size`` for a sparse file.
    public var allocatedSize: UInt64
    /// What kind of file it is.
    public var kind: Kind
    /// The permission bits, setuid, setgid and sticky included (`mode & 07777`).
    public var permissions: FilePermissions
    /// Last data modification.
    public var modified: FileTime
    /// Last access.
    public var accessed: FileTime
    /// Last status change.
    public var changed: FileTime
    /// Creation (birth) time, when the file system records it.
    public var created: FileTime?
    /// The inode number, unique within its device.
    public var inode: UInt64
    /// The number of hard links.
    public var linkCount: UInt32
    /// The owner's user ID.
    public var ownerID: UInt32
    /// The group ID.
    public var groupID: UInt32
    /// The device, as (major, minor).
    public var device: (major: UInt32, minor: UInt32)
    /// The preferred I/O block size.
    public var blockSize: UInt32

    init(_ raw: RawFileStatus) {
        size = raw.size
        allocatedSize = raw.blocks * 512
        kind = Kind(mode: raw.mode)
        permissions = FilePermissions(rawValue: CModeT(raw.mode & 0o7777))
        modified = FileTime(seconds: raw.modified.seconds, nanoseconds: raw.modified.nanoseconds)
        accessed = FileTime(seconds: raw.accessed.seconds, nanoseconds: raw.accessed.nanoseconds)
        changed = FileTime(seconds: raw.changed.seconds, nanoseconds: raw.changed.nanoseconds)
        created = raw.hasCreationTime ? FileTime(seconds: raw.created.seconds, nanoseconds: raw.created.nanoseconds) : nil
        inode = raw.inode
        linkCount = raw.linkCount
        ownerID = raw.uid
        groupID = raw.gid
        device = (raw.deviceMajor, raw.deviceMinor)
        blockSize = raw.blockSize
    }

    /// Equal when size, kind, permissions, modification time, inode and device are: the same file,
    /// unchanged as far as a copy would tell.
    public static func == (lhs: FileMetadata, rhs: FileMetadata) -> Bool {
        lhs.size == rhs.size && lhs.kind == rhs.kind && lhs.permissions == rhs.permissions && lhs.modified == rhs.modified
            && lhs.inode == rhs.inode && lhs.device == rhs.device
    }

    /// Whether it is a directory.
    public var isDirectory: Bool { kind == .directory }
    /// Whether it is a regular file.
    public var isRegularFile: Bool { kind == .regular }
    /// Whether it is a symbolic link (only when not followed).
    public var isSymbolicLink: Bool { kind == .symbolicLink }
}

/// A file timestamp: seconds and nanoseconds since the Unix epoch.
public struct FileTime: Sendable, Hashable, Comparable {
    /// Whole seconds since the epoch (negative before 1970).
    public var seconds: Int64
    /// Nanoseconds past ``seconds``, below 1,000,000,000.
    public var nanoseconds: UInt32

    /// A timestamp of `seconds` and `nanoseconds` since the Unix epoch.
    public init(seconds: Int64, nanoseconds: UInt32) {
        self.seconds = seconds
        self.nanoseconds = nanoseconds
    }

    /// Whether `lhs` is earlier than `rhs`.
    public static func < (lhs: FileTime, rhs: FileTime) -> Bool {
        (lhs.seconds, lhs.nanoseconds) < (rhs.seconds, rhs.nanoseconds)
    }
}
