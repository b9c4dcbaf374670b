import Torus

// GNU cp's words for failures, so that torus-cp's stderr reads as cp's does (scripts and people
// match on it): cp names what it was doing ("cannot open ... for reading", "error writing ...")
// and never a system call. Every message here was checked against cp 9.1
// (Tests/TorusCopyTests/CopyMessageTests.swift runs both).

/// What cp calls a file of this kind it creates, in "cannot create KIND 'path'".
func creationNoun(_ kind: FileMetadata.Kind) -> String {
    switch kind {
    case .directory: "directory"
    case .symbolicLink: "symbolic link"
    case .fifo: "fifo"
    case .blockDevice, .characterDevice, .socket: "special file"
    case .regular, .unknown: "regular file"
    }
}

/// The reason part of a message: the system's text for the error (`strerror`), as cp prints it.
func reason(_ error: any Error) -> String {
    if let error = error as? IOError { return error.errno.description }
    if let error = error as? Errno { return error.description }
    return "\(error)"
}

/// cp's message for a destination operand whose directory could not be opened: cp looks the
/// name up first, and says "cannot stat" unless it is simply missing (`ENOENT`), when it tries
/// to create it and says "cannot create KIND".
/// - Parameter quotedPath: the destination as typed, quoted.
func unreachableDestination(_ quotedPath: String, creating kind: FileMetadata.Kind, _ error: any Error) -> String {
    if let error = error as? IOError, error.errno == .noSuchFileOrDirectory {
        return "cannot create \(creationNoun(kind)) \(quotedPath): \(reason(error))"
    }
    return "cannot stat \(quotedPath): \(reason(error))"
}

/// Which of cp's messages an error met while copying `source` to `destination` (a file or
/// directory of `kind`) gets: by the operation that failed and by the side it failed on (the
/// error's path is the source's, or else the destination's or its temporary file's). An error
/// that is already worded (``CopyError``) is left as it is.
func cpMessage(
    for error: any Error, copying source: FilePath, to destination: FilePath, kind: FileMetadata.Kind,
    preserved: Preserved
) -> String {
    if let error = error as? CopyError { return error.description }
    guard let error = error as? IOError else { return "cannot copy \(quoted(source)) to \(quoted(destination)): \(reason(error))" }
    let onSource = error.path == source
    let why = reason(error)
    switch error.operation {
    case "open", "opendir", "fdopendir", "readdir":
        if kind == .directory { return "cannot access \(quoted(onSource ? source : destination)): \(why)" }
        return onSource ? "cannot open \(quoted(source)) for reading: \(why)" : "cannot create regular file \(quoted(destination)): \(why)"
    case "statx", "stat":
        return kind == .directory || !onSource
            ? "cannot stat \(quoted(onSource ? source : destination)): \(why)" : "cannot fstat \(quoted(source)): \(why)"
    case "read", "fcntl", "fadvise":
        return "error reading \(quoted(source)): \(why)"
    case "write", "fsync", "fdatasync":
        return "error writing \(quoted(destination)): \(why)"
    case "copy_file_range", "splice":
        return "error copying \(quoted(source)) to \(quoted(destination)): \(why)"
    case "ftruncate":
        return "failed to extend \(quoted(destination)): \(why)"
    case "close":
        return "failed to close \(quoted(onSource ? source : destination)): \(why)"
    case "mkdir", "symlink", "mknod", "rename":
        return "cannot create \(creationNoun(kind)) \(quoted(destination)): \(why)"
    case "readlink":
        return "cannot read symbolic link \(quoted(source)): \(why)"
    case "unlink":
        return "cannot remove \(quoted(destination)): \(why)"
    case "fchown", "lchown":
        return "failed to preserve ownership for \(quoted(destination)): \(why)"
    case "fchmod", "chmod":
        return preserved.contains(.mode)
            ? "preserving permissions for \(quoted(destination)): \(why)" : "setting permissions for \(quoted(destination)): \(why)"
    case "futimens", "utimensat":
        return "preserving times for \(quoted(destination)): \(why)"
    default:
        return "cannot copy \(quoted(source)) to \(quoted(destination)): \(why)"
    }
}
