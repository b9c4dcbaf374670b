import Foundation
import Testing
import TorusTestSupport

extension RuntimeSuite {
    /// cp's flags: -a, --preserve=links, -P/-L/-H, -v.
    @Suite("torus-cp flags")
    struct CopyFlags {
        /// src/a, hard links src/b and src/sub/c to it, a link to a directory outside and one to a file.
        func makeLinkedTree(_ root: String) throws {
            let manager = FileManager.default
            try manager.createDirectory(atPath: root + "/src/sub", withIntermediateDirectories: true)
            try manager.createDirectory(atPath: root + "/other", withIntermediateDirectories: true)
            _ = manager.createFile(atPath: root + "/src/a", contents: Data("one".utf8))
            #expect(link(root + "/src/a", root + "/src/b") == 0)
            #expect(link(root + "/src/a", root + "/src/sub/c") == 0)
            _ = manager.createFile(atPath: root + "/other/t", contents: Data("t".utf8))
            try manager.createSymbolicLink(atPath: root + "/src/dirlink", withDestinationPath: "../other")
            try manager.createSymbolicLink(atPath: root + "/src/filelink", withDestinationPath: "../other/t")
        }

        @Test("-a keeps hard links within the copy as hard links, and matches cp -a (types, contents, modes, times, links)")
        func archive() throws {
            let root = try makeTemporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: root) }
            try makeLinkedTree(root)
            if getuid() == 0 { #expect(chown(root + "/src/a", 1000, 1000) == 0) }
            #expect(try torusCopy(["-a", root + "/src", root + "/torus"]).status == 0)
            #expect(try runProcess("/bin/cp", ["-a", root + "/src", root + "/cp"]).status == 0)
            #expect(exactTree(root + "/torus", withTimes: true) == exactTree(root + "/cp", withTimes: true))
            let a = fileStatus(root + "/torus/a")
            #expect(a.st_nlink == 3)
            #expect(fileStatus(root + "/torus/b").st_ino == a.st_ino && fileStatus(root + "/torus/sub/c").st_ino == a.st_ino)
            if getuid() == 0 { #expect(a.st_uid == 1000) }
            // --preserve alone is -p; --preserve=links alone keeps the links, not the owner.
            #expect(try torusCopy(["-r", "--preserve", root + "/src", root + "/bare"]).status == 0)
            #expect(exactTree(root + "/bare", withTimes: true) == exactTree(root + "/torus", withTimes: true))
            #expect(try torusCopy(["-r", "--preserve=links", root + "/src", root + "/links"]).status == 0)
            #expect(fileStatus(root + "/links/a").st_nlink == 3)
            if getuid() == 0 { #expect(fileStatus(root + "/links/a").st_uid == 0) }
            // Without links preserved, three files.
            #expect(try torusCopy(["-r", root + "/src", root + "/plain"]).status == 0)
            #expect(fileStatus(root + "/plain/a").st_nlink == 1)
        }

        @Test("-L follows every link, -H only those on the command line, -P (the -R default) none; an operand ending in / is followed")
        func dereference() throws {
            let root = try makeTemporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: root) }
            try makeLinkedTree(root)
            for flags in [["-rL"], ["-rH"], ["-rP"], ["-r"]] {
                for operand in ["/src", "/src/dirlink", "/src/dirlink/"] {
                    let name = flags[0] + operand.replacingOccurrences(of: "/", with: "_")
                    let reference = try runProcess("/bin/cp", flags + [root + operand, root + "/cp" + name])
                    let outcome = try torusCopy(flags + [root + operand, root + "/torus" + name])
                    #expect(outcome.status == reference.status, "\(flags) \(operand): \(outcome.stderr)")
                    #expect(exactTree(root + "/torus" + name) == exactTree(root + "/cp" + name), "\(flags) \(operand)")
                    #expect(fileStatus(root + "/torus" + name).st_mode & S_IFMT == fileStatus(root + "/cp" + name).st_mode & S_IFMT)
                }
            }
        }

        @Test("-v prints 'SOURCE' -> 'DEST' for each item, as cp does")
        func verbose() throws {
            let root = try makeTemporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: root) }
            try makeLinkedTree(root)
            let outcome = try torusCopy(["-rv", root + "/src", root + "/dst"])
            #expect(outcome.status == 0)
            let reference = try runProcess("/bin/cp", ["-rv", root + "/src", root + "/cp"])
            let lines = Set(outcome.stdout.split(separator: "\n").map { $0.replacingOccurrences(of: root + "/dst", with: root + "/cp") })
            #expect(lines == Set(reference.stdout.split(separator: "\n").map(String.init)), "\(outcome.stdout)")
        }
    }
}
