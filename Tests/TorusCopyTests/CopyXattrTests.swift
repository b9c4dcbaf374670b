import CXattr
import Foundation
import Testing
import TorusTestSupport

/// Sets the extended attribute `name` of `path` (a symbolic link itself, never followed).
func setXattr(_ path: String, _ name: String, _ value: [UInt8]) -> Bool {
    value.withUnsafeBytes { torus_lsetxattr(path, name, $0.baseAddress, $0.count, 0) } == 0
}

/// The extended attributes of `path` itself (a link is not followed), by name; nil if they cannot
/// be listed. Lists and values are read with buffers as large as the kernel allows (64 KiB).
func xattrs(_ path: String) -> [String: [UInt8]]? {
    var list = [CChar](repeating: 0, count: 1 << 16)
    let length = torus_llistxattr(path, &list, list.count)
    guard length >= 0 else { return nil }
    var result: [String: [UInt8]] = [:]
    let names = list.prefix(length).split(separator: 0).map { String(decoding: $0.map { UInt8(bitPattern: $0) }, as: UTF8.self) }
    for name in names {
        var value = [UInt8](repeating: 0, count: 1 << 16)
        let size = torus_lgetxattr(path, name, &value, value.count)
        result[name] = size < 0 ? nil : Array(value.prefix(size))
    }
    return result
}

/// The extended attributes of every entry under `root` (and of `root` itself, under the empty
/// path), for comparing two copies.
func treeXattrs(_ root: String) -> [[UInt8]: [String: [UInt8]]] {
    var result: [[UInt8]: [String: [UInt8]]] = [[]: xattrs(root) ?? [:]]
    for path in exactTree(root).keys {
        result[path] = withCString(Array(root.utf8) + [UInt8(ascii: "/")] + path) { xattrs(String(cString: $0)) } ?? [:]
    }
    return result
}

/// A `security.capability` value (VFS_CAP_REVISION_2, effective) granting CAP_NET_BIND_SERVICE.
let netBindCapability: [UInt8] = [0x01, 0x00, 0x00, 0x02, 0x00, 0x04, 0x00, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]

/// A POSIX ACL (`system.posix_acl_access`): user::rw-, user:1000:r--, group::r--, mask::r--, other::r--.
let accessACL: [UInt8] =
    [2, 0, 0, 0] + [1, 0, 6, 0, 0xff, 0xff, 0xff, 0xff] + [2, 0, 4, 0, 0xe8, 0x03, 0, 0]
    + [4, 0, 4, 0, 0xff, 0xff, 0xff, 0xff] + [0x10, 0, 4, 0, 0xff, 0xff, 0xff, 0xff] + [0x20, 0, 4, 0, 0xff, 0xff, 0xff, 0xff]

/// A default ACL granting user 1000 rwx (given to what is created in the directory).
let inheritedACL: [UInt8] =
    [2, 0, 0, 0] + [1, 0, 7, 0, 0xff, 0xff, 0xff, 0xff] + [2, 0, 7, 0, 0xe8, 0x03, 0, 0]
    + [4, 0, 5, 0, 0xff, 0xff, 0xff, 0xff] + [0x10, 0, 7, 0, 0xff, 0xff, 0xff, 0xff] + [0x20, 0, 5, 0, 0xff, 0xff, 0xff, 0xff]

/// A default ACL that takes every permission from others (stricter than the umask).
let strictDefaultACL: [UInt8] =
    [2, 0, 0, 0] + [1, 0, 7, 0, 0xff, 0xff, 0xff, 0xff] + [4, 0, 7, 0, 0xff, 0xff, 0xff, 0xff]
    + [0x20, 0, 0, 0, 0xff, 0xff, 0xff, 0xff]

/// Mounts a fresh file system of `type` (tmpfs, ramfs) at a new directory in `root`; nil if it
/// cannot be mounted.
func mountScratch(_ type: String, in root: String, options: String = "size=16m") throws -> String? {
    let mountPoint = root + "/" + type
    try FileManager.default.createDirectory(atPath: mountPoint, withIntermediateDirectories: false)
    return try runProcess("/bin/mount", ["-t", type, "-o", options, type, mountPoint]).status == 0 ? mountPoint : nil
}

/// Runs GNU cp and torus-cp with the same arguments, `{}` in them standing for `cp` and `torus`
/// (so that each writes its own copy); the outcomes, torus-cp's stderr with `torus-cp:` where
/// cp's says `cp:` and its paths written as cp's.
func bothCopies(_ arguments: [String], asNobody: Bool = false, binary: String? = nil) throws -> (cp: ProcessOutcome, torus: ProcessOutcome) {
    let nobody = ["--reuid=65534", "--regid=65534", "--clear-groups"]
    func run(_ program: String, _ tag: String) throws -> ProcessOutcome {
        let filled = arguments.map { $0.replacingOccurrences(of: "{}", with: tag) }
        return asNobody ? try runProcess("/usr/bin/setpriv", nobody + [program] + filled) : try runProcess(program, filled)
    }
    var cp = try run("/bin/cp", "cp")
    // cp names itself as it was called.
    cp.stderr = cp.stderr.replacingOccurrences(of: "/bin/cp: ", with: "cp: ")
    var torus = try run(binary ?? builtExecutable("torus-cp"), "torus")
    torus.stderr = torus.stderr.replacingOccurrences(of: "torus-cp: ", with: "cp: ")
    for argument in arguments where argument.contains("{}") {
        torus.stderr = torus.stderr.replacingOccurrences(
            of: argument.replacingOccurrences(of: "{}", with: "torus"),
            with: argument.replacingOccurrences(of: "{}", with: "cp"))
    }
    return (cp, torus)
}

extension RuntimeSuite {
    /// --preserve=xattr, -a and --preserve=all against GNU cp: which attributes are copied, and
    /// how failures are told.
    @Suite("torus-cp extended attributes")
    struct CopyXattr {
        /// A tree on `base` with attributes on files, directories, symbolic links and FIFOs:
        /// many names (a list longer than a first small buffer), an empty value, a 64 KiB value
        /// where the file system takes it, the trusted. and security. namespaces as root, an
        /// ACL (which --preserve=xattr leaves to the mode, as /etc/xattr.conf says).
        func makeTree(_ source: String, names: Int, bigValue: Int) throws {
            let manager = FileManager.default
            try manager.createDirectory(atPath: source + "/dir/sub", withIntermediateDirectories: true)
            _ = manager.createFile(atPath: source + "/file", contents: Data("data".utf8))
            _ = manager.createFile(atPath: source + "/dir/readonly", contents: Data("ro".utf8), attributes: [.posixPermissions: 0o444])
            _ = manager.createFile(atPath: source + "/plain", contents: Data("none".utf8))
            try manager.createSymbolicLink(atPath: source + "/link", withDestinationPath: "file")
            #expect(mkfifo(source + "/fifo", 0o644) == 0)
            for index in 0..<names {
                #expect(setXattr(source + "/file", "user.attribute-with-a-long-name-\(index)", Array("value \(index)".utf8)))
            }
            #expect(setXattr(source + "/file", "user.empty", []))
            #expect(setXattr(source + "/file", "user.big", pseudoRandomBytes(bigValue, seed: 7)))
            #expect(setXattr(source + "/dir", "user.dir", Array("directory".utf8)))
            #expect(setXattr(source + "/dir/sub", "user.sub", Array("sub".utf8)))
            #expect(setXattr(source + "/dir/readonly", "user.ro", Array("read-only file".utf8)))
            if getuid() == 0 {
                #expect(setXattr(source + "/file", "trusted.t", Array("trusted".utf8)))
                #expect(setXattr(source + "/file", "security.s", Array("security".utf8)))
                #expect(setXattr(source + "/link", "trusted.link", Array("on the link".utf8)))
                #expect(setXattr(source + "/link", "security.link", Array("on the link too".utf8)))
                #expect(setXattr(source + "/fifo", "trusted.fifo", Array("fifo".utf8)))
                #expect(setXattr(source + "/dir", "trusted.dir", Array("dir".utf8)))
            }
        }

        @Test(
            "--preserve=xattr, -a and --preserve=all copy what cp copies (files, directories, links, FIFOs; 64 KiB values; the ACL only with the mode); plain copies none, -p the ACL only",
            .enabled(if: FileManager.default.isExecutableFile(atPath: "/bin/cp"), "needs GNU cp"))
        func sameAsCp() throws {
            // /dev/shm (tmpfs) takes user. attributes on this kernel, and values up to 64 KiB.
            let root = "/dev/shm/torus-cp-xattr-\(getpid())"
            try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: false)
            defer { try? FileManager.default.removeItem(atPath: root) }
            try #require(setXattr(root, "user.probe", [1]), "this tmpfs takes no user. attributes")
            try makeTree(root + "/src", names: 120, bigValue: 65536)
            #expect(setXattr(root + "/src/plain", "system.posix_acl_access", accessACL))
            let original = treeXattrs(root + "/src")
            #expect(original[Array("file".utf8)]?.count == (getuid() == 0 ? 124 : 122))
            #expect(original[Array("file".utf8)]?["user.big"]?.count == 65536)
            #expect(original[Array("plain".utf8)]?["system.posix_acl_access"] != nil)
            for flags in [["-r", "--preserve=xattr"], ["-a"], ["-r", "--preserve=all"], ["-r"], ["-rp"]] {
                let (cp, torus) = try bothCopies(flags + [root + "/src", root + "/{}\(flags.joined())"])
                #expect(torus.status == cp.status && torus.stderr == cp.stderr, "\(flags): \(torus.stderr) / cp: \(cp.stderr)")
                let expected = treeXattrs(root + "/cp\(flags.joined())")
                let copied = treeXattrs(root + "/torus\(flags.joined())")
                #expect(copied == expected, "\(flags)")
                if flags.contains("--preserve=xattr") {
                    // What was copied is everything but the ACL.
                    var withoutACL = original
                    withoutACL[Array("plain".utf8)] = [:]
                    #expect(copied == withoutACL)
                }
                if flags == ["-r"] {
                    #expect(copied.values.allSatisfy { $0.isEmpty }, "\(flags) copied extended attributes")
                }
                if flags == ["-rp"] {
                    // The ACL only: it goes with the mode.
                    var onlyACL = copied
                    onlyACL[Array("plain".utf8)] = nil
                    #expect(onlyACL.values.allSatisfy { $0.isEmpty }, "\(flags) copied extended attributes")
                    #expect(copied[Array("plain".utf8)]?.keys.sorted() == ["system.posix_acl_access"])
                }
            }
        }

        @Test(
            "a destination without extended attributes (ramfs): an error with --preserve=xattr (also after -a), unsaid with -a and --preserve=all, as cp",
            .enabled(if: getuid() == 0, "mounts a ramfs"))
        func unsupportedDestination() throws {
            let root = try makeTemporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: root) }
            // (ext4 keeps a file's attributes in one block.)
            try makeTree(root + "/src", names: 20, bigValue: 1000)
            let ramfs = try #require(try mountScratch("ramfs", in: root, options: "mode=0755"))
            defer { _ = try? runProcess("/bin/umount", [ramfs]) }
            for flags in [["--preserve=xattr"], ["-a", "--preserve=xattr"], ["-a"], ["--preserve=all"]] {
                // One item per run: cp's messages come in its order, torus-cp's as its cores finish.
                for item in ["file", "dir", "link", "fifo", "plain"] {
                    let recursive = flags.contains("-a") ? flags : flags + ["-r"]
                    let (cp, torus) = try bothCopies(recursive + [root + "/src/" + item, ramfs + "/{}-\(item)\(flags.joined())"])
                    #expect(torus.status == cp.status, "\(flags) \(item): \(torus.stderr) / cp: \(cp.stderr)")
                    // (A directory's lines in any order: torus-cp copies its entries in parallel.)
                    #expect(torus.stderr.split(separator: "\n").sorted() == cp.stderr.split(separator: "\n").sorted(), "\(flags) \(item)")
                    if flags == ["--preserve=xattr"] && item == "file" {
                        #expect(
                            cp.status == 1 && cp.stderr == "cp: setting attributes for '\(ramfs)/cp-file--preserve=xattr': Operation not supported\n")
                    }
                }
            }
        }

        @Test(
            "an attribute the destination refuses (too big for ext4): each named, exit 1 with --preserve=xattr, a warning with --preserve=all, unsaid with -a",
            .enabled(if: getuid() == 0, "mounts a tmpfs"))
        func refusedAttribute() throws {
            let root = try makeTemporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: root) }
            let tmpfs = try #require(try mountScratch("tmpfs", in: root))
            defer { _ = try? runProcess("/bin/umount", [tmpfs]) }
            _ = FileManager.default.createFile(atPath: tmpfs + "/big", contents: Data("x".utf8))
            #expect(setXattr(tmpfs + "/big", "user.small", [1]))
            try #require(setXattr(tmpfs + "/big", "user.huge", pseudoRandomBytes(60000, seed: 3)), "this tmpfs takes no large user. attributes")
            for flags in [["--preserve=xattr"], ["--preserve=all"], ["-a"]] {
                let (cp, torus) = try bothCopies(flags + [tmpfs + "/big", root + "/{}\(flags.joined())"])
                let expected = flags == ["-a"] ? "" : "cp: setting attribute 'user.huge' for '\(root)/cp\(flags.joined())': No space left on device\n"
                #expect(torus.stderr == expected, "\(flags)")
                #expect(torus.status == (flags == ["--preserve=xattr"] ? 1 : 0), "\(flags)")
                #expect(torus.status == cp.status, "\(flags)")
                // GNU cp 9.1 names the attribute where the file belongs (libattr quotes both
                // into one buffer); otherwise its message is the same.
                let libattrQuirk = expected.replacingOccurrences(of: "for '\(root)/cp\(flags.joined())'", with: "for 'user.huge'")
                #expect(cp.stderr == expected || cp.stderr == libattrQuirk, "\(flags): cp said \(cp.stderr)")
                #expect(xattrs(root + "/torus\(flags.joined())") == ["user.small": [1]])
                #expect(xattrs(root + "/cp\(flags.joined())") == ["user.small": [1]])
            }
        }

        @Test(
            "as root: security.capability survives -a of another user's file (the owner is set first); as nobody it is refused as by cp, and a read-only file still gets its user. attributes",
            .enabled(if: getuid() == 0 && FileManager.default.isExecutableFile(atPath: "/usr/bin/setpriv"), "needs root to become uid 65534"))
        func capabilitiesAndOwners() throws {
            let root = "/tmp/torus-cp-xattr-\(getpid())"
            try? FileManager.default.removeItem(atPath: root)
            try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o777])
            defer { try? FileManager.default.removeItem(atPath: root) }
            let binary = root + "/torus-cp"
            try FileManager.default.copyItem(atPath: builtExecutable("torus-cp"), toPath: binary)
            let program = root + "/program"
            _ = FileManager.default.createFile(atPath: program, contents: Data("#!/bin/sh\n".utf8), attributes: [.posixPermissions: 0o755])
            #expect(chown(program, 1000, 1000) == 0)
            try #require(setXattr(program, "security.capability", netBindCapability), "no file capabilities here")
            #expect(setXattr(program, "user.note", Array("note".utf8)))
            #expect(setXattr(program, "trusted.hidden", Array("root only".utf8)))
            let (cp, torus) = try bothCopies(["-a", program, root + "/{}-archive"])
            #expect(torus.status == 0 && cp.status == 0, "\(torus.stderr)")
            #expect(xattrs(root + "/torus-archive") == xattrs(program))
            #expect(xattrs(root + "/cp-archive") == xattrs(program))
            #expect(fileStatus(root + "/torus-archive").st_uid == 1000)

            // As nobody: trusted. is not even listed; security.capability needs CAP_SETFCAP.
            let readonly = root + "/readonly"
            _ = FileManager.default.createFile(atPath: readonly, contents: Data("ro".utf8), attributes: [.posixPermissions: 0o444])
            #expect(setXattr(readonly, "user.kept", Array("kept".utf8)))
            for flags in [["--preserve=xattr"], ["-a"], ["-p", "--preserve=xattr"]] {
                let name = flags.joined()
                let (cp, torus) = try bothCopies(flags + [program, root + "/{}-program\(name)"], asNobody: true, binary: binary)
                #expect(torus.status == cp.status, "\(flags): \(torus.stderr) / cp: \(cp.stderr)")
                let expected =
                    flags == ["-a"] ? "" : "cp: setting attribute 'security.capability' for '\(root)/cp-program\(name)': Operation not permitted\n"
                #expect(torus.stderr == expected, "\(flags)")
                #expect(xattrs(root + "/torus-program\(name)") == ["user.note": Array("note".utf8)])
                #expect(xattrs(root + "/torus-program\(name)") == xattrs(root + "/cp-program\(name)"))
                let (cpReadonly, torusReadonly) = try bothCopies(flags + [readonly, root + "/{}-readonly\(name)"], asNobody: true, binary: binary)
                #expect(torusReadonly.status == 0 && cpReadonly.status == 0, "\(flags): \(torusReadonly.stderr)")
                #expect(xattrs(root + "/torus-readonly\(name)") == ["user.kept": Array("kept".utf8)], "\(flags)")
                #expect(fileStatus(root + "/torus-readonly\(name)").st_mode & 0o777 == fileStatus(root + "/cp-readonly\(name)").st_mode & 0o777)
            }
        }

        @Test(
            "ACLs go with the mode, as cp's: copied by -p, -a and --preserve=mode (a directory's default ACL too), taken off a copy that a default ACL gave one; the exact mode under a default ACL",
            .enabled(if: FileManager.default.isExecutableFile(atPath: "/bin/cp"), "needs GNU cp"))
        func accessControlLists() throws {
            let root = try makeTemporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: root) }
            let manager = FileManager.default
            try manager.createDirectory(atPath: root + "/src/dir", withIntermediateDirectories: true)
            _ = manager.createFile(atPath: root + "/src/acl", contents: Data("a".utf8), attributes: [.posixPermissions: 0o644])
            _ = manager.createFile(atPath: root + "/src/plain", contents: Data("p".utf8), attributes: [.posixPermissions: 0o644])
            try #require(setXattr(root + "/src/acl", "system.posix_acl_access", accessACL), "no ACLs on this file system")
            #expect(setXattr(root + "/src/dir", "system.posix_acl_access", inheritedACL))
            #expect(setXattr(root + "/src/dir", "system.posix_acl_default", inheritedACL))
            // Destinations whose default ACLs a new file inherits: a generous one, a strict one.
            for name in ["generous", "strict"] {
                try manager.createDirectory(atPath: root + "/" + name, withIntermediateDirectories: false)
                #expect(setXattr(root + "/" + name, "system.posix_acl_default", name == "strict" ? strictDefaultACL : inheritedACL))
            }
            for flags in [["-r"], ["-rp"], ["-a"], ["-r", "--preserve=mode"], ["-r", "--preserve=xattr"]] {
                let tag = flags.joined()
                for (program, name) in [("/bin/cp", "cp"), (builtExecutable("torus-cp"), "torus")] {
                    for into in ["", "/generous", "/strict"] {
                        let outcome = try runProcess(program, flags + [root + "/src", root + into + "/\(name)\(tag)"])
                        #expect(outcome.status == 0, "\(name) \(flags): \(outcome.stderr)")
                    }
                }
                for into in ["", "/generous", "/strict"] {
                    for item in ["", "/acl", "/plain", "/dir"] {
                        let cp = root + into + "/cp\(tag)" + item
                        let torus = root + into + "/torus\(tag)" + item
                        #expect(xattrs(torus) == xattrs(cp), "\(flags) \(into)\(item)")
                        #expect(fileStatus(torus).st_mode == fileStatus(cp).st_mode, "\(flags) \(into)\(item)")
                    }
                }
            }
        }

        @Test(
            "an ACL the destination cannot hold (ramfs) is an error with -p and -a, in cp's words",
            .enabled(if: getuid() == 0, "mounts a ramfs"))
        func unsupportedACL() throws {
            let root = try makeTemporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: root) }
            _ = FileManager.default.createFile(atPath: root + "/acl", contents: Data("a".utf8), attributes: [.posixPermissions: 0o644])
            try #require(setXattr(root + "/acl", "system.posix_acl_access", accessACL), "no ACLs on this file system")
            _ = FileManager.default.createFile(atPath: root + "/plain", contents: Data("p".utf8))
            let ramfs = try #require(try mountScratch("ramfs", in: root, options: "mode=0755"))
            defer { _ = try? runProcess("/bin/umount", [ramfs]) }
            for flags in [["-p"], ["-a"], ["--preserve=mode"]] {
                for item in ["acl", "plain"] {
                    let (cp, torus) = try bothCopies(flags + [root + "/" + item, ramfs + "/{}-\(item)\(flags.joined())"])
                    #expect(torus.status == cp.status && torus.stderr == cp.stderr, "\(flags) \(item): \(torus.stderr) / cp: \(cp.stderr)")
                    #expect(cp.status == (item == "acl" ? 1 : 0))
                }
            }
        }
    }
}
