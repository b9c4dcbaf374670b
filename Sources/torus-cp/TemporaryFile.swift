import Glibc
import Torus

/// Creates a new, empty file for writing in `directory` under a short random name,
/// `.tcp-XXXXXX`: the copy is written there and renamed over its final name when complete. The
/// name has a fixed length of 11 bytes, so that a destination name of any length the file system
/// accepts (up to NAME_MAX) can be copied; `O_EXCL` never opens what is already there (nor
/// follows a symbolic link planted under the name).
/// - Returns: the open file (its ``File/path`` is the temporary file's) and the temporary name.
func createTemporaryFile(in directory: OpenDirectory, permissions: mode_t, options: File.Options) async throws -> (File, FilePath) {
    var attempts = 0
    while true {
        let name = temporaryName()
        do {
            let file = try await File.open(
                name, inDirectory: directory.fileDescriptor, path: directory.path(of: name),
                options: options.union([.exclusive, .noFollow]),
                permissions: FilePermissions(rawValue: permissions), via: .inline)
            return (file, name)
        } catch let error as IOError where error.errno == .fileExists && attempts < 100 {
            attempts += 1  // another copy's temporary file: draw again
        }
    }
}

/// `.tcp-` and six random letters and digits (36^6, about 2 billion names).
///
/// The six come from one random 64-bit number: each draw from the system generator is a
/// `getrandom` system call, and drawing each character on its own made six per file (1% of
/// the CPU of copying 20,000 small files).
func temporaryName() -> FilePath {
    let alphabet = Array("abcdefghijklmnopqrstuvwxyz0123456789".utf8)
    var random = UInt64.random(in: 0...UInt64.max)
    var name = ".tcp-"
    for _ in 0..<6 {
        name.unicodeScalars.append(Unicode.Scalar(alphabet[Int(random % 36)]))
        random /= 36
    }
    return FilePath(name)
}

/// Removes a temporary name this copy made, after a failure: a removal that fails (other than
/// the name being gone already) is reported, since it leaves a `.tcp-` entry behind.
func removeTemporary(_ name: FilePath, in directory: OpenDirectory) {
    do {
        _ = try name.withPlatformString { cName in
            try systemCall("unlink", path: directory.path(of: name)) { unlinkat(directory.descriptor, cName, 0) }
        }
    } catch let error as IOError where error.errno != .noSuchFileOrDirectory {
        printError("torus-cp: cannot remove \(quoted(directory.path(of: name))): \(reason(error))")
    } catch {}
}
