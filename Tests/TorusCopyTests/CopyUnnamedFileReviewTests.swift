import Foundation
import Testing
import TorusTestSupport

@testable import Torus

// Adversarial tests from the review of 3ad22d4 (unnamed files). Each compares with GNU cp.
// Each failed on 3ad22d4 (the first three from the change, the others older) and passes since.

extension RuntimeSuite {
    @Suite("torus-cp unnamed files (review)")
    struct CopyUnnamedFileReview {
        /// -n: a file another program made under the name while the copy ran must survive.
        /// cp -n opens the new name with O_EXCL, so it never overwrites a file; torus-cp's
        /// EEXIST fallback (UnnamedFile.publish) renames the copy over it and exits 0.
        @Test("-n: a name made by someone else while the copy ran is not overwritten")
        func noClobberRace() throws {
            let root = try makeTemporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: root) }
            let source = try makeSlowSource(in: root)
            try FileManager.default.createDirectory(atPath: root + "/out", withIntermediateDirectories: false)
            let process = try startSlowCopy(source, to: root + "/out/copy", options: ["-n"])
            waitForTemporaryFile(in: root + "/out")
            // Someone else's file appears under the name (created exclusively: it was not there).
            let fd = open(root + "/out/copy", O_WRONLY | O_CREAT | O_EXCL, 0o644)
            #expect(fd >= 0, "the name existed already: the copy was too fast")
            _ = "precious".withCString { write(fd, $0, 8) }
            close(fd)
            process.waitUntilExit()
            #expect(process.terminationReason == .exit)
            #expect(
                (try? String(contentsOfFile: root + "/out/copy", encoding: .utf8)) == "precious",
                "-n overwrote a file that existed when the copy was linked in")
        }

        /// Two sources with one name into one directory: cp copies the first and refuses the
        /// second ("will not overwrite just-created 'out/f' with 'b/f'", exit 1). torus-cp copies
        /// both at once; whichever finishes last is renamed over the other; exit 0.
        @Test("two sources of one name into a directory: cp's 'will not overwrite just-created'")
        func justCreated() throws {
            let root = try makeTemporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: root) }
            let manager = FileManager.default
            for directory in ["a", "b", "torus", "cp"] {
                try manager.createDirectory(atPath: "\(root)/\(directory)", withIntermediateDirectories: false)
            }
            _ = manager.createFile(atPath: root + "/a/f", contents: Data("A".utf8))
            _ = manager.createFile(atPath: root + "/b/f", contents: Data("B".utf8))
            let cp = try runProcess("/bin/cp", [root + "/a/f", root + "/b/f", root + "/cp"])
            let torus = try runProcess(builtExecutable("torus-cp"), [root + "/a/f", root + "/b/f", root + "/torus"])
            #expect(cp.status == 1 && cp.stderr.contains("will not overwrite just-created"))
            #expect(torus.status == cp.status, "torus-cp: \(torus.stderr)")
            #expect(torus.stderr.contains("will not overwrite just-created"), "\(torus.stderr)")
            #expect(
                (try? String(contentsOfFile: root + "/torus/f", encoding: .utf8)) == (try? String(contentsOfFile: root + "/cp/f", encoding: .utf8)))
        }

        /// Before Linux 6.10, linkat(fd, "", ..., AT_EMPTY_PATH) needs CAP_DAC_READ_SEARCH in the
        /// initial user namespace and fails with ENOENT without it: root in a Docker container
        /// (DAC_READ_SEARCH is not in Docker's default set), root in a user namespace (rootless
        /// podman, unshare -r), root with the capability dropped. UnnamedFile.link chooses
        /// AT_EMPTY_PATH from geteuid() == 0 alone, so there every new file fails. Simulated with
        /// an injected ENOENT on the first link (6.10+ allows the opener, so it cannot be shown
        /// for real here); /proc/self/fd would have worked.
        @Test(
            "root without CAP_DAC_READ_SEARCH on kernels before 6.10 (AT_EMPTY_PATH answers ENOENT): the copy is still made",
            .enabled(if: geteuid() == 0, "AT_EMPTY_PATH is used as root only"))
        func emptyPathRefused() throws {
            let root = try makeTemporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: root) }
            _ = FileManager.default.createFile(atPath: root + "/source", contents: Data("data".utf8))
            try FileManager.default.createDirectory(atPath: root + "/out", withIntermediateDirectories: false)
            let outcome = try runProcess(
                builtExecutable("torus-cp"), [root + "/source", root + "/out/copy"], environment: ["TORUS_FAULTS": "link:ENOENT@/out/"])
            #expect(outcome.status == 0, "\(outcome.stderr)")
            #expect((try? String(contentsOfFile: root + "/out/copy", encoding: .utf8)) == "data")
        }

        /// -a -n with hard-linked sources: a later name of a linked group becomes a link to the
        /// first name's copy (FileCopier.copyOrLink, FileCopier.swift:111) without the destination
        /// rules, so an existing destination file is replaced although -n says to leave it. cp
        /// leaves it ("old") and copies the other name on its own. Whichever name torus-cp meets
        /// first, one of the two runs has the existing file as a later name. Pre-existing.
        @Test("-a -n with hard-linked sources: an existing destination is never replaced by a link")
        func noClobberHardLinks() throws {
            let root = try makeTemporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: root) }
            let manager = FileManager.default
            try manager.createDirectory(atPath: root + "/src", withIntermediateDirectories: false)
            _ = manager.createFile(atPath: root + "/src/a", contents: Data("new".utf8))
            #expect(link(root + "/src/a", root + "/src/b") == 0)
            for existing in ["a", "b"] {
                for tool in ["cp", "torus"] {
                    let out = "\(root)/\(tool)-\(existing)"
                    try manager.createDirectory(atPath: out, withIntermediateDirectories: false)
                    _ = manager.createFile(atPath: "\(out)/\(existing)", contents: Data("old".utf8))
                    let program = tool == "cp" ? "/bin/cp" : builtExecutable("torus-cp")
                    let outcome = try runProcess(program, ["-a", "-n", root + "/src/.", out + "/"])
                    #expect(outcome.status == 0, "\(tool): \(outcome.stderr)")
                    #expect(
                        (try? String(contentsOfFile: "\(out)/\(existing)", encoding: .utf8)) == "old",
                        "\(tool) -n replaced the existing '\(existing)'")
                }
            }
        }

        /// cp -p as a user who cannot give the copy the source's owner clears S_ISUID, S_ISGID
        /// and S_ISVTX (copy.c: `src_mode &= ~(S_ISUID | S_ISGID | S_ISVTX)`); torus-cp keeps the
        /// sticky bit (FinalAttributes.swift:82). Pre-existing, not from 3ad22d4.
        @Test(
            "as nobody, -p of root's mode-7777 file: the mode is cp's (sticky bit dropped)",
            .enabled(if: getuid() == 0 && FileManager.default.isExecutableFile(atPath: "/usr/bin/setpriv"), "needs root to become uid 65534"))
        func unprivilegedStickyBit() throws {
            let root = "/tmp/torus-cp-review-sticky-\(getpid())"
            try? FileManager.default.removeItem(atPath: root)
            try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o777])
            defer { try? FileManager.default.removeItem(atPath: root) }
            let binary = root + "/torus-cp"
            try FileManager.default.copyItem(atPath: builtExecutable("torus-cp"), toPath: binary)
            _ = FileManager.default.createFile(atPath: root + "/source", contents: Data("s".utf8))
            #expect(chmod(root + "/source", 0o7777) == 0)
            let asNobody = ["--reuid=65534", "--regid=65534", "--clear-groups"]
            for (program, tag) in [(binary, "torus"), ("/bin/cp", "cp")] {
                let outcome = try runProcess("/usr/bin/setpriv", asNobody + [program, "-p", root + "/source", "\(root)/copy-\(tag)"])
                #expect(outcome.status == 0, "\(tag): \(outcome.stderr)")
            }
            var torus = stat()
            var cp = stat()
            stat(root + "/copy-torus", &torus)
            stat(root + "/copy-cp", &cp)
            #expect(
                torus.st_mode & 0o7777 == cp.st_mode & 0o7777,
                "torus-cp \(String(torus.st_mode & 0o7777, radix: 8)), cp \(String(cp.st_mode & 0o7777, radix: 8))")
        }
    }
}
