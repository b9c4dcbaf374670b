import CXattr
import Glibc
import Torus

/// Where extended attributes are read or written: an open file or directory, through its
/// descriptor (`flistxattr`, `fgetxattr`, `fsetxattr`), or what has no descriptor to read
/// through (a symbolic link, a FIFO, a device node) by the `/proc/self/fd/N` path of an `O_PATH`
/// descriptor: that path names the opened inode itself, a link included, so nothing is looked up
/// by name again. (Without /proc mounted, those fail with ENOENT, reported as any failure.)
enum XattrHandle {
    case descriptor(Int32)
    case openedPath(String)

    /// Opens `place` (never following a symbolic link there) for its extended attributes and
    /// calls `body` with the handle; the descriptor is closed after.
    static func withOpened<R>(_ place: Place, _ body: (XattrHandle) -> R) throws(Errno) -> R {
        let fd = try retryingInterrupted("open") {
            place.name.withPlatformString { openat(place.directory.descriptor, $0, O_PATH | O_NOFOLLOW | O_CLOEXEC) }
        }
        // Nothing is written through an O_PATH descriptor: a failed close cannot lose anything.
        defer { closeOwnedDescriptor(fd) }
        return body(.openedPath("/proc/self/fd/\(fd)"))
    }

    /// The names, each ending in a NUL byte; -1 and errno on failure.
    func list(into buffer: UnsafeMutableRawPointer?, size: Int) -> Int {
        let names = buffer?.assumingMemoryBound(to: CChar.self)
        switch self {
        case .descriptor(let fd): return torus_flistxattr(fd, names, size)
        case .openedPath(let path): return torus_listxattr(path, names, size)
        }
    }

    func get(_ name: UnsafePointer<CChar>, into buffer: UnsafeMutableRawPointer?, size: Int) -> Int {
        switch self {
        case .descriptor(let fd): return torus_fgetxattr(fd, name, buffer, size)
        case .openedPath(let path): return torus_getxattr(path, name, buffer, size)
        }
    }

    func set(_ name: UnsafePointer<CChar>, to value: UnsafeRawBufferPointer) -> Int32 {
        switch self {
        case .descriptor(let fd): return torus_fsetxattr(fd, name, value.baseAddress, value.count, 0)
        case .openedPath(let path): return torus_setxattr(path, name, value.baseAddress, value.count, 0)
        }
    }

    /// The name of `call` as this handle makes it: `fsetxattr` through a descriptor, `setxattr`
    /// by path.
    func call(_ call: String) -> String {
        if case .descriptor = self { return "f" + call }
        return call
    }

    func remove(_ name: UnsafePointer<CChar>) -> Int32 {
        switch self {
        case .descriptor(let fd): return torus_fremovexattr(fd, name)
        case .openedPath(let path): return torus_removexattr(path, name)
        }
    }
}

/// One failure while copying extended attributes or ACLs: the failed call as the program's
/// other errors are (an ``IOError`` naming the call, `flistxattr`, `fsetxattr`..., the path it
/// was made on and the error), the attribute it was about (nil: the list, or the whole file),
/// and whether it was an ACL copied with the mode.
struct XattrFailure: Error {
    let error: IOError
    var attribute: String? = nil
    var forMode = false
    /// On the destination's side (opening it, or setting), rather than the source's.
    var settingFailure = false

    var errno: Errno { error.errno }

    /// cp's words for it, without the reason: libattr's for extended attributes, gnulib's
    /// (`qcopy_acl`) for ACLs.
    var message: String {
        let path = error.path ?? FilePath("")
        if forMode {
            return settingFailure ? "preserving permissions for \(localeQuoted(path))" : localeQuoted(path)
        }
        if !settingFailure {
            if let attribute { return "getting attribute \(quoted(attribute)) of \(quoted(path))" }
            return "listing attributes of \(quoted(path))"
        }
        if let attribute { return "setting attribute \(quoted(attribute)) for \(quoted(path))" }
        return "setting attributes for \(quoted(path))"
    }
}

/// Copies the extended attributes of `source` to `destination` as GNU cp does (libattr's
/// `attr_copy_fd`): every attribute the ``XattrRules`` do not leave out, one after the other,
/// going on after a failure. A source on a file system without extended attributes has none to
/// copy; a destination that cannot hold them (`ENOTSUP`) is one failure for the whole file.
/// Lists and values of any size are read whole (see ``readGrowing(_:_:)``).
/// - Returns: the failures, for the caller to report as the options say.
func copyExtendedAttributes(
    from source: XattrHandle, of sourcePath: FilePath, to destination: XattrHandle, of destinationPath: FilePath,
    rules: XattrRules = .system
) -> [XattrFailure] {
    let names: [UInt8]
    switch readGrowing("listxattr", { source.list(into: $0, size: $1) }) {
    case .success(let list): names = list
    case .failure(let error) where error == .notSupported || error == .noFunction: return []
    case .failure(let error): return [XattrFailure(error: IOError(operation: source.call("listxattr"), path: sourcePath, errno: error))]
    }
    var failures: [XattrFailure] = []
    var unsupported = false
    let setting = destination.call("setxattr")
    for name in names.split(separator: 0).map({ Array($0) + [0] }) {
        let text = String(decoding: name.dropLast(), as: UTF8.self)
        guard rules.copies(text) else { continue }
        let value: [UInt8]
        switch withCString(name, { name in readGrowing("getxattr") { source.get(name, into: $0, size: $1) } }) {
        case .success(let bytes): value = bytes
        case .failure(let error):
            failures.append(XattrFailure(error: IOError(operation: source.call("getxattr"), path: sourcePath, errno: error), attribute: text))
            continue
        }
        do {
            _ = try withCString(name) { name throws(Errno) in
                try retryingInterrupted("setxattr") { value.withUnsafeBytes { destination.set(name, to: $0) } }
            }
        } catch .notSupported {
            unsupported = true  // said once for the file, after the others were tried
        } catch .noFunction {
            failures.append(XattrFailure(error: IOError(operation: setting, path: destinationPath, errno: .noFunction), settingFailure: true))
            break  // no hope of setting the others
        } catch {
            failures.append(
                XattrFailure(error: IOError(operation: setting, path: destinationPath, errno: error), attribute: text, settingFailure: true))
        }
    }
    if unsupported {
        failures.append(XattrFailure(error: IOError(operation: setting, path: destinationPath, errno: .notSupported), settingFailure: true))
    }
    return failures
}

/// Reads an attribute list or value whose size is not known: into a buffer that grows while the
/// kernel says it is too small (`ERANGE`; it can grow again between asking its size and reading
/// it, and then says so again).
/// - Parameters:
///   - operation: the call's name, for fault injection (`getxattr`, `listxattr`).
///   - call: the call, with a buffer and its size, or `nil` and 0 to ask for the size; it
///     returns the length or -1 with errno set.
func readGrowing(_ operation: String, _ call: (UnsafeMutableRawPointer?, Int) -> Int) -> Result<[UInt8], Errno> {
    var capacity = 256
    while true {
        var buffer = [UInt8](repeating: 0, count: capacity)
        let outcome = buffer.withUnsafeMutableBytes { bytes in
            Result { () throws(Errno) in try retryingInterrupted(operation) { call(bytes.baseAddress, bytes.count) } }
        }
        switch outcome {
        case .success(let length): return .success(Array(buffer.prefix(length)))
        case .failure(let error):
            // The kernel keeps lists and values under 64 KiB: a buffer past 16 MiB means a broken answer.
            guard error == Errno(rawValue: ERANGE), capacity < 16 << 20 else { return .failure(error) }
        }
        do {
            let size = try retryingInterrupted(operation) { call(nil, 0) }
            capacity = max(size, capacity * 2)
        } catch {
            return .failure(error)
        }
    }
}

/// `call`'s result through Torus's system-call layer (`EINTR` retried, fault injection in debug
/// builds), its failure as the bare `Errno`: the attribute messages word themselves as cp's do.
func retryingInterrupted<Result: BinaryInteger>(_ operation: String, _ call: () -> Result) throws(Errno) -> Result {
    do {
        return try systemCall(operation, call)
    } catch {
        throw error.errno
    }
}

/// Calls `body` with the NUL-terminated bytes `bytes` as a C string.
func withCString<R, E: Error>(_ bytes: [UInt8], _ body: (UnsafePointer<CChar>) throws(E) -> R) throws(E) -> R {
    precondition(bytes.last == 0, "not NUL-terminated")
    return try bytes.withUnsafeBufferPointer { buffer throws(E) in
        try buffer.withMemoryRebound(to: CChar.self) { buffer throws(E) in try body(buffer.baseAddress!) }
    }
}

extension CopyReport {
    /// What is copied between the owner and the mode of a copy (``FinalAttributes/apply(to:path:createdWith:afterOwner:)``):
    /// with --preserve=xattr (or -a, or --preserve=all) the extended attributes of `source`,
    /// failures told as `options` say; with the mode (-p, -a, --preserve=mode) its ACLs, as cp
    /// copies them, failures errors.
    /// - Parameter directory: a directory's default ACL is copied too.
    func preserveExtendedAttributes(
        from source: XattrHandle, of sourcePath: FilePath, to destination: XattrHandle,
        of destinationPath: FilePath, directory: Bool = false, options: CopyOptions
    ) {
        if options.preserved.contains(.xattr) {
            tell(copyExtendedAttributes(from: source, of: sourcePath, to: destination, of: destinationPath), options: options)
        }
        if options.preserved.contains(.mode) {
            for failure in copyAccessControlLists(from: source, of: sourcePath, to: destination, of: destinationPath, directory: directory) {
                failed("\(failure.message): \(failure.errno.description)")
            }
        }
    }

    /// The same for what has no descriptor to go through (a symbolic link, a FIFO, a device node):
    /// both are opened with `O_PATH`, never following a link. A link has no ACL.
    func preserveExtendedAttributes(from source: Place, to destination: Place, symbolicLink: Bool, options: CopyOptions) {
        guard options.preserved.contains(.xattr) || (options.preserved.contains(.mode) && !symbolicLink) else { return }
        var options = options
        if symbolicLink { options.preserved.remove(.mode) }
        let failures: [XattrFailure]
        do throws(Errno) {
            failures = try XattrHandle.withOpened(source) { sourceHandle in
                do throws(Errno) {
                    return try XattrHandle.withOpened(destination) { destinationHandle in
                        preserveExtendedAttributes(from: sourceHandle, of: source.path, to: destinationHandle, of: destination.path, options: options)
                        return []
                    }
                } catch {
                    return [XattrFailure(error: IOError(operation: "open", path: destination.path, errno: error), settingFailure: true)]
                }
            }
        } catch {
            failures = [XattrFailure(error: IOError(operation: "open", path: source.path, errno: error))]
        }
        tell(failures, options: options)
    }

    private func tell(_ failures: [XattrFailure], options: CopyOptions) {
        for failure in failures {
            let message = "\(failure.message): \(failure.errno.description)"
            switch options.xattrFailures {
            case .fail: failed(message)
            case .warn where failure.errno != .notSupported && failure.errno != .noData: printError("torus-cp: \(message)")
            case .warn, .silent: break
            }
        }
    }
}

/// `open(2)`'s `O_PATH` (a GNU flag, so not in Swift's Glibc module; the same on every Linux
/// architecture but a few old ones torus-cp does not build for). Spelled as C spells it.
// swift-format-ignore: AlwaysUseLowerCamelCase
let O_PATH: Int32 = 0o10000000
