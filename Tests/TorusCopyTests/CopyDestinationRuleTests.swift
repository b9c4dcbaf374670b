import Foundation
import Testing
import TorusTestSupport

/// `lstat` of `path` (the test fails on an error).
func fileStatus(_ path: String) -> stat {
    var status = stat()
    #expect(lstat(path, &status) == 0, "lstat \(path)")
    return status
}

extension RuntimeSuite {
    /// cp's rules for what is already at the destination, and for modes and owners as root.
    @Suite("torus-cp destination rules")
    struct CopyDestinationRules {
        @Test(
            "as root: setuid/setgid dropped unless -p keeps the owner; an existing file keeps its mode and owner; an existing directory its mode",
            .enabled(if: getuid() == 0, "needs root to own files as another user"))
        func modesAndOwners() throws {
            let root = try makeTemporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: root) }
            let source = root + "/setuid"
            _ = FileManager.default.createFile(atPath: source, contents: Data("x".utf8))
            #expect(chown(source, 1000, 1000) == 0)
            #expect(chmod(source, 0o6755) == 0)
            #expect(try torusCopy([source, root + "/plain"]).status == 0)
            let plain = fileStatus(root + "/plain")
            #expect(plain.st_mode & 0o7777 == 0o755)
            #expect(plain.st_uid == 0)
            #expect(try torusCopy(["-p", source, root + "/kept"]).status == 0)
            let kept = fileStatus(root + "/kept")
            #expect(kept.st_mode & 0o7777 == 0o6755)
            #expect(kept.st_uid == 1000 && kept.st_gid == 1000)

            // An existing 0600 file of another user stays 0600 and theirs, with the new contents.
            let existing = root + "/existing"
            _ = FileManager.default.createFile(atPath: existing, contents: Data("old".utf8))
            #expect(chown(existing, 1000, 1000) == 0)
            #expect(chmod(existing, 0o600) == 0)
            #expect(try torusCopy([source, existing]).status == 0)
            let replaced = fileStatus(existing)
            #expect(replaced.st_mode & 0o7777 == 0o600)
            #expect(replaced.st_uid == 1000 && replaced.st_gid == 1000)
            #expect(try String(contentsOfFile: existing, encoding: .utf8) == "x")

            // An existing 0700 directory stays 0700 when a 0755 one is copied into it.
            try FileManager.default.createDirectory(atPath: root + "/tree/dir", withIntermediateDirectories: true)
            #expect(chmod(root + "/tree/dir", 0o755) == 0)
            try FileManager.default.createDirectory(atPath: root + "/out/dir", withIntermediateDirectories: true)
            #expect(chmod(root + "/out/dir", 0o700) == 0)
            #expect(try torusCopy(["-r", root + "/tree/dir", root + "/out"]).status == 0)
            #expect(fileStatus(root + "/out/dir").st_mode & 0o7777 == 0o700)
        }

        @Test("a FIFO or device destination is written into, never replaced")
        func specialDestinations() throws {
            let root = try makeTemporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: root) }
            let source = root + "/source"
            _ = FileManager.default.createFile(atPath: source, contents: Data("through the fifo".utf8))
            let fifo = root + "/fifo"
            #expect(mkfifo(fifo, 0o644) == 0)
            // The reading end opened first (non-blocking, so it needs no writer yet): the copy's
            // open then finds a reader, and the few bytes wait in the pipe until read below.
            let reader = open(fifo, O_RDONLY | O_NONBLOCK)
            #expect(reader >= 0)
            defer { close(reader) }
            let outcome = try torusCopy([source, fifo])
            #expect(outcome.status == 0, "\(outcome.stderr)")
            var bytes = [UInt8](repeating: 0, count: 100)
            let count = read(reader, &bytes, bytes.count)
            #expect(count == 16 && String(decoding: bytes.prefix(max(count, 0)), as: UTF8.self) == "through the fifo")
            #expect(fileStatus(fifo).st_mode & S_IFMT == S_IFIFO)
            if getuid() == 0 {
                let null = root + "/null"
                #expect(mknod(null, S_IFCHR | 0o666, dev_t(0x103)) == 0)
                #expect(try torusCopy([source, null]).status == 0)
                #expect(fileStatus(null).st_mode & S_IFMT == S_IFCHR, "the device node was replaced")
            }
        }

        @Test("a destination symlink is written through; a dangling one is refused; SRC missing/ is 'Not a directory'")
        func linksAndSlashes() throws {
            let root = try makeTemporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: root) }
            let source = root + "/source"
            _ = FileManager.default.createFile(atPath: source, contents: Data("new".utf8))
            _ = FileManager.default.createFile(atPath: root + "/target", contents: Data("old".utf8))
            try FileManager.default.createSymbolicLink(atPath: root + "/link", withDestinationPath: "target")
            #expect(try torusCopy([source, root + "/link"]).status == 0)
            #expect(fileStatus(root + "/link").st_mode & S_IFMT == S_IFLNK)
            #expect(try String(contentsOfFile: root + "/target", encoding: .utf8) == "new")

            try FileManager.default.createSymbolicLink(atPath: root + "/dangling", withDestinationPath: "nowhere")
            let dangling = try torusCopy([source, root + "/dangling"])
            #expect(dangling.status == 1)
            #expect(dangling.stderr.contains("not writing through dangling symlink '\(root)/dangling'"), "\(dangling.stderr)")
            #expect(!FileManager.default.fileExists(atPath: root + "/nowhere"))

            let slash = try torusCopy([source, root + "/missing/"])
            #expect(slash.status == 1)
            #expect(slash.stderr.contains("cannot create regular file '\(root)/missing/': Not a directory"), "\(slash.stderr)")
            #expect(!FileManager.default.fileExists(atPath: root + "/missing"))
        }
    }
}

extension RuntimeSuite.CopyDestinationRules {
    @Test(
        "as an unprivileged user, as cp: another user's writable file is rewritten in place (owner kept); -p of root's setuid file drops setuid",
        .enabled(if: getuid() == 0 && FileManager.default.isExecutableFile(atPath: "/usr/bin/setpriv"), "needs root to become uid 65534"))
    func unprivileged() throws {
        let root = "/tmp/torus-cp-unprivileged-\(getpid())"
        try? FileManager.default.removeItem(atPath: root)
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o777])
        defer { try? FileManager.default.removeItem(atPath: root) }
        let binary = root + "/torus-cp"
        try FileManager.default.copyItem(atPath: builtExecutable("torus-cp"), toPath: binary)
        _ = FileManager.default.createFile(atPath: root + "/public", contents: Data("new".utf8), attributes: [.posixPermissions: 0o644])
        _ = FileManager.default.createFile(atPath: root + "/setuid", contents: Data("s".utf8))
        #expect(chmod(root + "/setuid", 0o4755) == 0)
        let asNobody = ["--reuid=65534", "--regid=65534", "--clear-groups"]
        for (program, tag) in [(binary, "torus"), ("/bin/cp", "cp")] {
            let theirs = "\(root)/theirs-\(tag)"
            _ = FileManager.default.createFile(atPath: theirs, contents: Data("old".utf8))
            #expect(chown(theirs, 1000, 1000) == 0 && chmod(theirs, 0o666) == 0)
            let overwrite = try runProcess("/usr/bin/setpriv", asNobody + [program, root + "/public", theirs])
            #expect(overwrite.status == 0, "\(tag): \(overwrite.stderr)")
            let preserve = try runProcess("/usr/bin/setpriv", asNobody + [program, "-p", root + "/setuid", "\(root)/setuid-\(tag)"])
            #expect(preserve.status == 0, "\(tag): \(preserve.stderr)")
        }
        let rewritten = fileStatus(root + "/theirs-torus")
        #expect(rewritten.st_uid == 1000 && rewritten.st_mode & 0o7777 == 0o666)
        #expect(try String(contentsOfFile: root + "/theirs-torus", encoding: .utf8) == "new")
        let copied = fileStatus(root + "/setuid-torus")
        #expect(copied.st_uid == 65534 && copied.st_mode & 0o7777 == 0o755)
        // And exactly what cp did.
        for name in ["theirs", "setuid"] {
            let (torus, cp) = (fileStatus("\(root)/\(name)-torus"), fileStatus("\(root)/\(name)-cp"))
            #expect(torus.st_uid == cp.st_uid && torus.st_gid == cp.st_gid && torus.st_mode == cp.st_mode, "\(name)")
        }
    }
}
