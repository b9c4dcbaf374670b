import SystemPackage

// The spellings Torus had before its API spoke swift-system's vocabulary (issue #16): raw
// `Int32` descriptors and a second directory-entry type. Each forwards to its replacement, so
// code written against them still builds, with a warning that names the new spelling. They are
// left out of the documentation (`@_documentation(visibility: internal)`): a reader should meet
// only the current API, and DocC links to the current names stay unambiguous.

extension File {
    /// The raw file descriptor (-1 once closed).
    @_documentation(visibility: internal)
    @available(*, deprecated, message: "use `descriptor` (a FileDescriptor; its rawValue is this number)")
    public var fileDescriptor: Int32 { descriptor.rawValue }
}

extension TCPStream {
    /// The raw descriptor (-1 once closed).
    @_documentation(visibility: internal)
    @available(*, deprecated, message: "use `descriptor` (a FileDescriptor; its rawValue is this number)")
    public var fileDescriptor: Int32 { descriptor.rawValue }
}

extension TCPListener {
    /// The raw descriptor (-1 once closed).
    @_documentation(visibility: internal)
    @available(*, deprecated, message: "use `descriptor` (a FileDescriptor; its rawValue is this number)")
    public var fileDescriptor: Int32 { descriptor.rawValue }
}

/// The directory entry type of ``FileSystem/contentsOfDirectory(descriptor:path:)``, now the
/// one ``DirectoryEntry`` (whose name is also a `FilePath.Component`).
@_documentation(visibility: internal)
@available(*, deprecated, renamed: "DirectoryEntry")
public typealias ExactDirectoryEntry = DirectoryEntry

extension FileSystem {
    /// The entries of the open directory `descriptor`, names exactly as stored.
    @_documentation(visibility: internal)
    @available(*, deprecated, renamed: "contentsOfDirectory(descriptor:path:)", message: "pass a FileDescriptor")
    public static func exactContentsOfDirectory(descriptor: Int32, path: FilePath) async throws -> [DirectoryEntry] {
        try await contentsOfDirectory(descriptor: FileDescriptor(rawValue: descriptor), path: path)
    }

    /// Metadata of `name` inside the open directory `directory`.
    @_documentation(visibility: internal)
    @available(*, deprecated, message: "pass the directory as a FileDescriptor")
    public static func metadata(
        of name: FilePath, inDirectory directory: Int32, path: FilePath,
        followSymbolicLinks: Bool = false
    ) throws -> FileMetadata {
        try metadata(of: name, inDirectory: FileDescriptor(rawValue: directory), path: path, followSymbolicLinks: followSymbolicLinks)
    }

    /// Metadata of `name` inside the open directory `directory`, on a chosen route.
    @_documentation(visibility: internal)
    @available(*, deprecated, message: "pass the directory as a FileDescriptor")
    public static func metadata(
        of name: FilePath, inDirectory directory: Int32, path: FilePath, followSymbolicLinks: Bool = false,
        via route: FileOperationRoute
    ) async throws -> FileMetadata {
        try await metadata(
            of: name, inDirectory: FileDescriptor(rawValue: directory), path: path,
            followSymbolicLinks: followSymbolicLinks, via: route)
    }

    /// The target of the symbolic link `name` in the open directory `directory`.
    @_documentation(visibility: internal)
    @available(*, deprecated, message: "pass the directory as a FileDescriptor")
    public static func destinationOfSymbolicLink(_ name: FilePath, inDirectory directory: Int32, path: FilePath) throws -> FilePath {
        try destinationOfSymbolicLink(name, inDirectory: FileDescriptor(rawValue: directory), path: path)
    }
}

extension File {
    /// Opens `name` relative to the open directory `directory`.
    @_documentation(visibility: internal)
    @available(*, deprecated, message: "pass the directory as a FileDescriptor")
    public static func open(
        _ name: FilePath, inDirectory directory: Int32, path: FilePath, options: Options = .read,
        permissions: FilePermissions = [.ownerReadWrite, .groupRead, .otherRead], via route: FileOperationRoute = .ring
    ) async throws -> File {
        try await open(name, inDirectory: FileDescriptor(rawValue: directory), path: path, options: options, permissions: permissions, via: route)
    }
}
