import Foundation
import Testing
import TorusTestSupport

@testable import Torus

/// Runs torus-cp with `arguments`.
func torusCopy(_ arguments: [String]) throws -> ProcessOutcome {
    try runProcess(builtExecutable("torus-cp"), arguments)
}

/// Waits (up to 5 s) until the copy of a file into `directory` is under way: a torus-cp
/// temporary file (`.tcp-XXXXXX`) appears there, or a process holds an unnamed file open in it
/// (`O_TMPFILE`, which `/proc/PID/fd` shows as `DIRECTORY/#INODE (deleted)`).
func waitForTemporaryFile(in directory: String) {
    let deadline = ContinuousClock.now + .seconds(5)
    while ContinuousClock.now < deadline, !hasTemporaryFile(in: directory) { usleep(200) }
}

private func hasTemporaryFile(in directory: String) -> Bool {
    let manager = FileManager.default
    if ((try? manager.contentsOfDirectory(atPath: directory)) ?? []).contains(where: { $0.hasPrefix(".tcp-") }) { return true }
    let unnamed = (URL(fileURLWithPath: directory).resolvingSymlinksInPath().path) + "/#"
    for process in (try? manager.contentsOfDirectory(atPath: "/proc")) ?? [] where process.allSatisfy(\.isNumber) {
        for fd in (try? manager.contentsOfDirectory(atPath: "/proc/\(process)/fd")) ?? [] {
            if let target = try? manager.destinationOfSymbolicLink(atPath: "/proc/\(process)/fd/\(fd)"),
                target.hasPrefix(unnamed), target.hasSuffix(" (deleted)")
            {
                return true
            }
        }
    }
    return false
}

/// Every regular file, directory and link under `root`, with contents or targets, for comparing trees.
func treeSignature(_ root: String) throws -> [String: String] {
    var result: [String: String] = [:]
    let manager = FileManager.default
    guard let walker = manager.enumerator(atPath: root) else { return result }
    while let relative = walker.nextObject() as? String {
        let path = root + "/" + relative
        let attributes = try manager.attributesOfItem(atPath: path)
        switch attributes[.type] as? FileAttributeType {
        case .typeSymbolicLink?: result[relative] = "link -> " + (try manager.destinationOfSymbolicLink(atPath: path))
        case .typeDirectory?: result[relative] = "dir"
        case .typeRegular?:
            let data = try Data(contentsOf: URL(fileURLWithPath: path))
            var checksum = Checksum()
            data.withUnsafeBytes { checksum.add($0) }
            result[relative] = "file \(data.count) \(checksum.value)"
        default: result[relative] = "special"
        }
    }
    return result
}

extension RuntimeSuite {
    @Suite("torus-cp")
    struct CopyProgram {
        @Test("a tree: empty files and directories, deep nesting, odd names, symlinks, chunk boundaries")
        func tree() throws {
            let root = try makeTemporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: root) }
            let source = root + "/src"
            let manager = FileManager.default
            try manager.createDirectory(atPath: source + "/empty dir", withIntermediateDirectories: true)
            try manager.createDirectory(atPath: source + "/d1/d2/d3/d4/d5/d6", withIntermediateDirectories: true)
            _ = manager.createFile(atPath: source + "/empty file", contents: Data())
            _ = manager.createFile(atPath: source + "/d1/d2/d3/d4/d5/d6/deep.txt", contents: Data("deep".utf8))
            _ = manager.createFile(atPath: source + "/naïve file ☃.txt", contents: Data("unicode".utf8))
            _ = manager.createFile(atPath: source + "/exact.bin", contents: Data(pseudoRandomBytes(128 << 10, seed: 1)))
            _ = manager.createFile(atPath: source + "/plus-one.bin", contents: Data(pseudoRandomBytes((128 << 10) + 1, seed: 2)))
            try manager.createSymbolicLink(atPath: source + "/link", withDestinationPath: "naïve file ☃.txt")
            try manager.createSymbolicLink(atPath: source + "/dangling", withDestinationPath: "nowhere")
            let outcome = try torusCopy(["-r", "--chunk-size", "64K", "--queue-depth", "3", "--stats", source, root + "/dst"])
            #expect(outcome.status == 0, "\(outcome.stderr)")
            #expect(try treeSignature(root + "/dst") == treeSignature(source))
            // The other data path, through buffers, and verification.
            let buffered = try torusCopy(["-r", "--method", "read-write", "--chunk-size", "64K", "--verify", source, root + "/dst-rw"])
            #expect(buffered.status == 0, "\(buffered.stderr)")
            #expect(try treeSignature(root + "/dst-rw") == treeSignature(source))
            #expect(outcome.stderr.contains("failed"))  // the --stats line
            // Copying again into an existing directory puts the tree inside it, as cp does.
            let again = try torusCopy(["-r", source, root + "/dst"])
            #expect(again.status == 0)
            #expect(try treeSignature(root + "/dst/src") == treeSignature(source))
        }

        @Test(
            "every data path copies exactly: copy_file_range, splice, read/write, and auto across file systems",
            arguments: ["copy-file-range", "splice", "read-write", "auto"])
        func dataPaths(method: String) throws {
            // /dev/shm is tmpfs: copying from it into the temporary directory's file system makes
            // copy_file_range cross file systems, where auto must fall back (or the kernel copies).
            let shm = "/dev/shm/torus-cp-test-\(getpid())-\(method)"
            try FileManager.default.createDirectory(atPath: shm, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(atPath: shm) }
            let root = try makeTemporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: root) }
            for (index, size) in [0, 1, (64 << 10) - 1, 64 << 10, (64 << 10) + 1, 3 << 20, (9 << 20) + 3].enumerated() {
                _ = FileManager.default.createFile(atPath: "\(shm)/f\(index)", contents: Data(pseudoRandomBytes(size, seed: UInt64(index + 10))))
            }
            // An explicit copy-file-range may be refused across file systems (EXDEV, reported);
            // it is checked within one file system below.
            let acrossMethod = method == "copy-file-range" ? "auto" : method
            let local = try torusCopy(["-r", "--method", acrossMethod, "--chunk-size", "64K", "--queue-depth", "4", shm, root + "/local"])
            #expect(local.status == 0, "\(local.stderr)")
            #expect(try treeSignature(root + "/local") == treeSignature(shm))
            // And back, within one file system.
            let again = try torusCopy(["-r", "--method", method, "--chunk-size", "64K", "--verify", root + "/local", root + "/again"])
            #expect(again.status == 0, "\(again.stderr)")
            #expect(try treeSignature(root + "/again") == treeSignature(shm))
        }

        @Test("--progress reports files, bytes of the total, percentage, rate and ETA; nothing on a pipe by default")
        func progress() throws {
            let root = try makeTemporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: root) }
            try FileManager.default.createDirectory(atPath: root + "/src/sub", withIntermediateDirectories: true)
            _ = FileManager.default.createFile(atPath: root + "/src/a.bin", contents: Data(pseudoRandomBytes(3 << 20, seed: 4)))
            _ = FileManager.default.createFile(atPath: root + "/src/sub/b.bin", contents: Data(pseudoRandomBytes(1 << 20, seed: 5)))
            let shown = try torusCopy(["-r", "--progress", root + "/src", root + "/shown"])
            #expect(shown.status == 0, "\(shown.stderr)")
            // The last line, after the copy: everything of the 4 MiB the size walk found.
            let last = shown.stderr.split(separator: "\r").last.map(String.init) ?? ""
            #expect(last.contains("2 files, 4.0 of 4.0 MiB (100%)"), "\(shown.stderr.debugDescription)")
            #expect(last.contains("MiB/s, ETA 0s"), "\(shown.stderr.debugDescription)")
            // stderr is a pipe here: no progress unless asked for.
            let quiet = try torusCopy(["-r", root + "/src", root + "/quiet"])
            #expect(quiet.status == 0)
            #expect(quiet.stderr.isEmpty, "\(quiet.stderr.debugDescription)")
        }

        @Test("-p preserves mode and times; -n leaves existing files; several sources into a directory")
        func options() throws {
            let root = try makeTemporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: root) }
            let manager = FileManager.default
            _ = manager.createFile(atPath: root + "/a", contents: Data("a".utf8), attributes: [.posixPermissions: 0o751])
            _ = manager.createFile(atPath: root + "/b", contents: Data("b".utf8))
            let old = Date(timeIntervalSince1970: 1_000_000_000)
            try manager.setAttributes([.modificationDate: old], ofItemAtPath: root + "/a")
            try manager.createDirectory(atPath: root + "/into", withIntermediateDirectories: false)
            #expect(try torusCopy(["-p", root + "/a", root + "/b", root + "/into"]).status == 0)
            let attributes = try manager.attributesOfItem(atPath: root + "/into/a")
            #expect(attributes[.posixPermissions] as? Int == 0o751)
            #expect((attributes[.modificationDate] as? Date)?.timeIntervalSince1970 == 1_000_000_000)
            _ = manager.createFile(atPath: root + "/into/keep", contents: Data("original".utf8))
            #expect(try torusCopy(["-n", root + "/a", root + "/into/keep"]).status == 0)
            #expect(try String(contentsOfFile: root + "/into/keep", encoding: .utf8) == "original")
            let notDirectory = try torusCopy([root + "/a", root + "/b", root + "/into/keep"])
            #expect(notDirectory.status == 1)
            #expect(notDirectory.stderr == "torus-cp: target '\(root)/into/keep': Not a directory\n", "\(notDirectory.stderr)")
        }

        @Test("a sparse file past 4 GiB stays sparse and identical")
        func sparse() throws {
            let root = try makeTemporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: root) }
            let path = root + "/sparse"
            let fd = open(path, O_CREAT | O_WRONLY, 0o644)
            #expect(pwrite(fd, "head", 4, 0) == 4)
            #expect(pwrite(fd, "tail", 4, (5 << 30) + 7) == 4)
            close(fd)
            #expect(try torusCopy([path, root + "/copy"]).status == 0)
            var source = stat()
            var copy = stat()
            stat(path, &source)
            stat(root + "/copy", &copy)
            #expect(copy.st_size == source.st_size)
            #expect(copy.st_blocks < 1024, "holes were not written out")
            let handle = try FileHandle(forReadingFrom: URL(fileURLWithPath: root + "/copy"))
            try handle.seek(toOffset: (5 << 30) + 7)
            #expect(try handle.read(upToCount: 4) == Data("tail".utf8))
            try handle.seek(toOffset: 0)
            #expect(try handle.read(upToCount: 4) == Data("head".utf8))
        }

        @Test("errors: missing source, same file, directory into itself, omitted directory; the rest is still copied")
        func errors() throws {
            let root = try makeTemporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: root) }
            let manager = FileManager.default
            try manager.createDirectory(atPath: root + "/dir/sub", withIntermediateDirectories: true)
            _ = manager.createFile(atPath: root + "/file", contents: Data("x".utf8))
            try manager.createDirectory(atPath: root + "/out", withIntermediateDirectories: false)
            let mixed = try torusCopy([root + "/missing", root + "/file", root + "/dir", root + "/out"])
            #expect(mixed.status == 1)
            #expect(mixed.stderr.contains("cannot stat '\(root)/missing': No such file or directory"))
            #expect(mixed.stderr.contains("-r not specified; omitting directory '\(root)/dir'"))
            #expect(manager.fileExists(atPath: root + "/out/file"), "the good source was copied anyway")
            let same = try torusCopy([root + "/file", root + "/file"])
            #expect(same.status == 1)
            #expect(same.stderr.contains("are the same file"))
            let itself = try torusCopy(["-r", root + "/dir", root + "/dir/sub/inner"])
            #expect(itself.status == 1)
            #expect(itself.stderr.contains("into itself"))
            let usage = try torusCopy([root + "/file"])
            #expect(usage.status != 0)
            #expect(usage.stderr.contains("missing destination"))
        }

        @Test("as an unprivileged user: an unreadable source and a read-only destination are reported, nothing half-written")
        func permissions() throws {
            try #require(getuid() == 0 && FileManager.default.isExecutableFile(atPath: "/usr/bin/setpriv"), "needs root to become uid 65534")
            let root = "/tmp/torus-cp-permissions-\(getpid())"
            try? FileManager.default.removeItem(atPath: root)
            try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o777])
            defer { try? FileManager.default.removeItem(atPath: root) }
            let binary = root + "/torus-cp"
            try FileManager.default.copyItem(atPath: builtExecutable("torus-cp"), toPath: binary)
            try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: binary)
            _ = FileManager.default.createFile(atPath: root + "/secret", contents: Data("s".utf8), attributes: [.posixPermissions: 0o000])
            _ = FileManager.default.createFile(atPath: root + "/public", contents: Data("p".utf8), attributes: [.posixPermissions: 0o644])
            try FileManager.default.createDirectory(
                atPath: root + "/locked", withIntermediateDirectories: false, attributes: [.posixPermissions: 0o555])
            let asNobody = ["--reuid=65534", "--regid=65534", "--clear-groups", binary]
            let unreadable = try runProcess("/usr/bin/setpriv", asNobody + [root + "/secret", root + "/copy"])
            #expect(unreadable.status == 1)
            #expect(unreadable.stderr.contains("Permission denied"))
            #expect(unreadable.stderr.contains("\(root)/secret"))
            let readOnly = try runProcess("/usr/bin/setpriv", asNobody + [root + "/public", root + "/locked/copy"])
            #expect(readOnly.status == 1)
            #expect(readOnly.stderr.contains("Permission denied"))
            let leftovers = try FileManager.default.contentsOfDirectory(atPath: root).filter { $0.contains(".tcp-") }
            #expect(leftovers.isEmpty)
            #expect(!FileManager.default.fileExists(atPath: root + "/copy"))
        }

        @Test(
            "a full disk: the file that does not fit is reported, nothing under its name, no temporary file, space given back",
            .enabled(if: getuid() == 0, "mounts an 8 MiB tmpfs"))
        func fullDisk() throws {
            let root = try makeTemporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: root) }
            let small = root + "/small.bin"
            let big = root + "/big.bin"
            _ = FileManager.default.createFile(atPath: small, contents: Data(pseudoRandomBytes(1 << 20, seed: 30)))
            _ = FileManager.default.createFile(atPath: big, contents: Data(repeating: 0xa5, count: 16 << 20))
            let disk = root + "/disk"
            try FileManager.default.createDirectory(atPath: disk, withIntermediateDirectories: false)
            let mount = try runProcess("/bin/mount", ["-t", "tmpfs", "-o", "size=8m", "tmpfs", disk])
            try #require(mount.status == 0, "mount: \(mount.stderr)")
            defer { _ = try? runProcess("/bin/umount", [disk]) }
            // 16 MiB into 8 MiB (across file systems, so through the ring's reads and writes).
            let full = try torusCopy(["--no-progress", big, disk + "/big.bin"])
            #expect(full.status == 1)
            // cp's words (CopyMessageTests compares them with cp's).
            #expect(full.stderr == "torus-cp: error writing '\(disk)/big.bin': No space left on device\n", "\(full.stderr)")
            #expect(try FileManager.default.contentsOfDirectory(atPath: disk).isEmpty, "no file under the final name, no temporary file")
            // The partial temporary file was removed, so its space is free again.
            let fits = try torusCopy(["--no-progress", small, disk + "/small.bin"])
            #expect(fits.status == 0, "\(fits.stderr)")
            #expect(try Data(contentsOf: URL(fileURLWithPath: disk + "/small.bin")) == Data(contentsOf: URL(fileURLWithPath: small)))
        }

        @Test("an interrupted copy leaves no file under the final name and no temporary file")
        func interrupted() throws {
            let root = try makeTemporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: root) }
            // Read and write in 4K chunks, one at a time: copy_file_range would finish the
            // 256 MiB in about 0.2 s, too close to the signal's arrival.
            let source = try makeSlowSource(in: root)
            let process = try startSlowCopy(source, to: root + "/copy", standardError: Pipe())
            // Interrupt once the copy is under way (its temporary file exists).
            waitForTemporaryFile(in: root)
            process.interrupt()
            process.waitUntilExit()
            #expect(process.terminationStatus == 130, "the copy finished before the interrupt: make it longer")
            #expect(!FileManager.default.fileExists(atPath: root + "/copy"))
            let leftovers = try FileManager.default.contentsOfDirectory(atPath: root).filter { $0 != "big" }
            #expect(leftovers.isEmpty, "\(leftovers)")
        }
    }
}
