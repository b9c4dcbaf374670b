import Foundation
import Synchronization
import Testing
import TorusTestSupport

extension RuntimeSuite {
    /// The tree walk never follows a symbolic link inside a tree, on either side, even when the
    /// tree changes while it runs; names are bytes.
    @Suite("torus-cp walk safety")
    struct CopyWalkSafety {
        @Test("-r into a destination whose subdirectory or file is a symbolic link never writes through it")
        func destinationLinks() throws {
            let root = try makeTemporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: root) }
            let manager = FileManager.default
            try manager.createDirectory(atPath: root + "/src/sub", withIntermediateDirectories: true)
            _ = manager.createFile(atPath: root + "/src/sub/f", contents: Data("new".utf8))
            _ = manager.createFile(atPath: root + "/src/file", contents: Data("new".utf8))
            try manager.createDirectory(atPath: root + "/elsewhere", withIntermediateDirectories: true)
            #expect(chmod(root + "/elsewhere", 0o700) == 0)
            _ = manager.createFile(atPath: root + "/elsewhere/f", contents: Data("untouched".utf8))
            _ = manager.createFile(atPath: root + "/outside", contents: Data("untouched".utf8))
            try manager.createDirectory(atPath: root + "/dst/src", withIntermediateDirectories: true)
            try manager.createSymbolicLink(atPath: root + "/dst/src/sub", withDestinationPath: root + "/elsewhere")
            try manager.createSymbolicLink(atPath: root + "/dst/src/file", withDestinationPath: root + "/outside")
            let outcome = try torusCopy(["-r", root + "/src", root + "/dst"])
            #expect(outcome.status == 1)
            #expect(
                outcome.stderr.contains("cannot overwrite non-directory '\(root)/dst/src/sub' with directory '\(root)/src/sub'"),
                "\(outcome.stderr)")
            #expect(try String(contentsOfFile: root + "/elsewhere/f", encoding: .utf8) == "untouched")
            #expect(fileStatus(root + "/elsewhere").st_mode & 0o7777 == 0o700)
            // Inside a tree a link in the way is replaced by the file, its target left alone.
            #expect(try String(contentsOfFile: root + "/outside", encoding: .utf8) == "untouched")
            #expect(fileStatus(root + "/dst/src/file").st_mode & S_IFMT == S_IFREG)
        }

        @Test("an entry swapped between a file and a symbolic link to a 0600 secret while -r runs: the secret is never copied")
        func swapRace() throws {
            let root = try makeTemporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: root) }
            let manager = FileManager.default
            let secret = "top secret contents"
            _ = manager.createFile(atPath: root + "/secret", contents: Data(secret.utf8), attributes: [.posixPermissions: 0o600])
            try manager.createDirectory(atPath: root + "/secretdir", withIntermediateDirectories: false)
            _ = manager.createFile(atPath: root + "/secretdir/inner", contents: Data(secret.utf8), attributes: [.posixPermissions: 0o600])
            try manager.createDirectory(atPath: root + "/src", withIntermediateDirectories: false)
            for index in 0..<20 { _ = manager.createFile(atPath: root + "/src/filler\(index)", contents: Data("filler".utf8)) }
            // Swapped atomically with rename(2), back and forth, while the copies run.
            _ = manager.createFile(atPath: root + "/src/entry", contents: Data("public".utf8))
            try manager.createDirectory(atPath: root + "/src/dir", withIntermediateDirectories: false)
            let stop = Atomic<Bool>(false)
            let swapper = Thread {
                var round = 0
                while !stop.load(ordering: .relaxed) {
                    round += 1
                    let asLink = round % 2 == 1
                    let staging = root + "/staging"
                    if asLink {
                        symlink(root + "/secret", staging)
                    } else {
                        _ = FileManager.default.createFile(atPath: staging, contents: Data("public".utf8))
                    }
                    rename(staging, root + "/src/entry")
                    // A directory and a link cannot be renamed over each other: the directory
                    // is parked outside the tree while the link stands in for it.
                    if asLink {
                        rename(root + "/src/dir", root + "/parked")
                        symlink(root + "/secretdir", root + "/src/dir")
                    } else {
                        unlink(root + "/src/dir")
                        rename(root + "/parked", root + "/src/dir")
                    }
                }
            }
            swapper.start()
            defer { stop.store(true, ordering: .relaxed) }
            let rounds = ProcessInfo.processInfo.environment["TORUS_STRESS"] == nil ? 20 : 500
            for round in 0..<rounds {
                let destination = root + "/copy\(round)"
                _ = try torusCopy(["-r", root + "/src", destination])
                for (path, entry) in exactTree(destination) where entry.type == S_IFREG {
                    let bytes = readAll(Array(destination.utf8) + [UInt8(ascii: "/")] + path)
                    #expect(bytes != Array(secret.utf8), "round \(round): the secret was copied to \(String(decoding: path, as: UTF8.self))")
                }
                try manager.removeItem(atPath: destination)
            }
        }

        @Test("names are bytes: invalid UTF-8 next to its repaired twin, link targets that are not UTF-8, 255-byte names")
        func exactNames() throws {
            let root = try makeTemporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: root) }
            let source = Array((root + "/src").utf8)
            #expect(mkdir(root + "/src", 0o755) == 0)
            let slash = UInt8(ascii: "/")
            createFile(source + [slash, 0x61, 0xff], Array("invalid".utf8))
            createFile(source + [slash] + Array("a\u{FFFD}".utf8), Array("replacement".utf8))
            createFile(source + [slash] + [UInt8](repeating: 0x62, count: 255), Array("long".utf8))
            let longDirectory = source + [slash] + [UInt8](repeating: 0xe9, count: 255)
            #expect(withCString(longDirectory) { mkdir($0, 0o755) } == 0)
            createFile(longDirectory + [slash] + [UInt8](repeating: 0x63, count: 254) + [0xfe], Array("deep".utf8))
            #expect(
                withCString([0x6e, 0x6f, 0xff, 0xfe]) { target in withCString(source + [slash] + Array("link".utf8)) { symlink(target, $0) } } == 0)
            let outcome = try torusCopy(["-r", root + "/src", root + "/dst"])
            #expect(outcome.status == 0, "\(outcome.stderr)")
            let original = exactTree(root + "/src")
            #expect(original.count == 6)
            #expect(exactTree(root + "/dst") == original)
        }
    }
}
