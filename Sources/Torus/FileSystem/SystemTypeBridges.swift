import SystemPackage

// Torus's file vocabulary next to swift-system's: a program that already speaks
// `FileDescriptor.AccessMode`, `FileDescriptor.OpenOptions` and `FileType` converts in one call.
// Torus keeps its own `File.Options` (it adds `direct`, and always sets close-on-exec) and
// `FileMetadata.Kind` (a closed enum, which a `switch` can cover).

extension FileMetadata.Kind {
    /// The kind of swift-system's `FileType` (the `S_IF*` bits); ``unknown`` for a type Linux
    /// does not have (`whiteout`).
    public init(_ type: FileType) {
        self.init(mode: UInt32(type.rawValue))
    }

    /// This kind as swift-system's `FileType`, or nil for ``unknown``.
    public var fileType: FileType? {
        switch self {
        case .regular: .regular
        case .directory: .directory
        case .symbolicLink: .symbolicLink
        case .fifo: .fifo
        case .socket: .socket
        case .blockDevice: .blockSpecial
        case .characterDevice: .characterSpecial
        case .unknown: nil
        }
    }
}

extension File.Options {
    /// The options that open a file as `FileDescriptor.open(_:_:options:)` would with `access`
    /// and `options`, or nil if `options` holds one ``File`` cannot honour (`nonBlocking`,
    /// `directory`, `sync` and the like: a `File` is a regular file read and written through the
    /// ring). `closeOnExec` is accepted: every `File` is opened close-on-exec.
    public init?(_ access: FileDescriptor.AccessMode, _ options: FileDescriptor.OpenOptions = []) {
        switch access {
        case .readOnly: self = .read
        case .writeOnly: self = .write
        case .readWrite: self = [.read, .write]
        default: return nil
        }
        let supported: [(FileDescriptor.OpenOptions, File.Options)] = [
            (.create, .create), (.truncate, .truncate), (.append, .append), (.exclusiveCreate, .exclusive),
            (.noFollow, .noFollow), (.closeOnExec, []),
        ]
        var left = options
        for (systemOption, option) in supported where options.contains(systemOption) {
            formUnion(option)
            left.remove(systemOption)
        }
        guard left.isEmpty else { return nil }
    }
}
