import Glibc
import Torus

/// POSIX ACLs, which Linux keeps as two extended attributes: `system.posix_acl_access` (the
/// permissions of a file or directory past owner, group and others) and
/// `system.posix_acl_default` (a directory's, given to what is created in it). cp copies them
/// with the mode (-p, -a, --preserve=mode), not with the extended attributes (`/etc/xattr.conf`
/// leaves them out of those), and a copy whose source has none gets none: not the one a
/// destination directory's default ACL gave the new file, which could grant more than the
/// source's mode does.
let accessACL = "system.posix_acl_access"
let defaultACL = "system.posix_acl_default"

/// Gives `destination` the ACLs of `source` (the default ACL too for a directory), or takes
/// them away where the source has none, as cp does (gnulib's `qcopy_acl`). Called before the
/// mode is set: setting an ACL sets the group bits to its mask, and the mode set after agrees
/// with the ACL copied. A destination that cannot hold an ACL the source has is a failure; one
/// that holds none when the source has none is not.
/// - Returns: the failures (in cp's words, "preserving permissions for 'dst'"; a source that
///   cannot be read is named alone).
func copyAccessControlLists(
    from source: XattrHandle, of sourcePath: FilePath, to destination: XattrHandle, of destinationPath: FilePath,
    directory: Bool
) -> [XattrFailure] {
    for name in directory ? [accessACL, defaultACL] : [accessACL] {
        switch withCString(Array(name.utf8) + [0], { copyACL($0, from: source, to: destination) }) {
        case nil: continue
        case .reading(let error)?:
            return [XattrFailure(error: IOError(operation: source.call("getxattr"), path: sourcePath, errno: error), attribute: name, forMode: true)]
        case .writing(let call, let error)?:
            return [
                XattrFailure(
                    error: IOError(operation: destination.call(call), path: destinationPath, errno: error), attribute: name,
                    forMode: true, settingFailure: true)
            ]
        }
    }
    return []
}

/// Which side an ACL could not be copied on.
private enum ACLFailure {
    case reading(Errno)
    /// The call (`setxattr` or `removexattr`) and its error.
    case writing(String, Errno)
}

/// Copies the ACL `name` from `source` to `destination`, or removes it there if the source has none.
private func copyACL(_ name: UnsafePointer<CChar>, from source: XattrHandle, to destination: XattrHandle) -> ACLFailure? {
    switch readGrowing("getxattr", { source.get(name, into: $0, size: $1) }) {
    case .success(let value):
        do { _ = try retryingInterrupted("setxattr") { value.withUnsafeBytes { destination.set(name, to: $0) } } } catch {
            return .writing("setxattr", error)
        }
    case .failure(let error) where error == .noData || error == .notSupported:
        // None on the source (or none possible there): none on the copy.
        do {
            _ = try retryingInterrupted("removexattr") { destination.remove(name) }
        } catch  where error == .noData || error == .notSupported {
            // It had none (or cannot have one).
        } catch {
            return .writing("removexattr", error)
        }
    case .failure(let error):
        return .reading(error)
    }
    return nil
}

/// `path` as cp's `quote` writes it (its locale style, used where cp names a file in an ACL
/// message): in ‘’ in a UTF-8 locale, in '' otherwise, with C escapes for what cannot be printed.
func localeQuoted(_ path: FilePath) -> String {
    let bytes = path.withPlatformString { Array(UnsafeBufferPointer(start: $0, count: strlen($0))).map { UInt8(bitPattern: $0) } }
    var output: [UInt8] = []
    let letters: [UInt8: UInt8] = [7: 0x61, 8: 0x62, 12: 0x66, 10: 0x6e, 13: 0x72, 9: 0x74, 11: 0x76]
    for byte in bytes {
        if let letter = letters[byte] {
            output += [0x5c, letter]
        } else if byte == 0x5c || (!localeIsUTF8 && byte == UInt8(ascii: "'")) {
            output += [0x5c, byte]
        } else if byte < 0x20 || byte == 0x7f || (byte >= 0x80 && !localeIsUTF8) {
            output += [0x5c] + Array("\(byte >> 6)\((byte >> 3) & 7)\(byte & 7)".utf8)
        } else {
            output.append(byte)
        }
    }
    let text = String(decoding: output, as: UTF8.self)
    return localeIsUTF8 ? "\u{2018}\(text)\u{2019}" : "'\(text)'"
}
