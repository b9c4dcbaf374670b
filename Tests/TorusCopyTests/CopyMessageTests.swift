import Foundation
import Testing
import TorusTestSupport

/// One failure (or near-failure) of a copy, run with GNU cp and with torus-cp.
struct CopyMessageCase: Sendable, CustomStringConvertible {
    var description: String
    /// As uid 65534 (through setpriv), for the permission cases.
    var asNobody = false
    /// The arguments, `@` standing for the directory ``makeMessageFixture(at:)`` filled.
    var arguments: [String]

    init(_ description: String, asNobody: Bool = false, _ arguments: [String]) {
        self.description = description
        self.asNobody = asNobody
        self.arguments = arguments
    }
}

/// The files every case works on: a file, a directory tree, links, a FIFO, and (for nobody)
/// files and directories it may not read, search or write, all owned by root.
func makeMessageFixture(at root: String) throws {
    let manager = FileManager.default
    try manager.createDirectory(atPath: root, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o777])
    let directories: [(String, Int)] = [
        ("dir/sub", 0o755), ("out", 0o777), ("locked", 0o555), ("unsearch", 0o755), ("tree/locked", 0o755),
        ("hasdir/file", 0o755), ("writeonly", 0o777), ("items/d", 0o755),
    ]
    for (path, _) in directories { try manager.createDirectory(atPath: root + "/" + path, withIntermediateDirectories: true) }
    for (name, contents, mode) in [
        ("file", "x", 0o644), ("file2", "y", 0o644), ("secret", "s", 0o000), ("rofile", "ro", 0o444),
        ("unsearch/f", "u", 0o644), ("tree/pub", "p", 0o644), ("writeonly/inside", "w", 0o644),
        ("items/f", "f", 0o644),
    ] {
        _ = manager.createFile(atPath: root + "/" + name, contents: Data(contents.utf8), attributes: [.posixPermissions: mode])
    }
    try manager.createSymbolicLink(atPath: root + "/dangling", withDestinationPath: "nowhere")
    try manager.createSymbolicLink(atPath: root + "/items/link", withDestinationPath: "nowhere")
    #expect(mkfifo(root + "/items/fifo", 0o644) == 0)
    // Modes last: a directory must be writable while it is filled.
    for (path, mode) in directories { #expect(chmod(root + "/" + path, mode_t(mode)) == 0) }
    #expect(chmod(root + "/unsearch", 0o700) == 0)
    #expect(chmod(root + "/tree/locked", 0o700) == 0)
    #expect(chmod(root + "/writeonly", 0o333) == 0)  // search and write, no read (cp copies into and out of it)
}

let copyMessageCases: [CopyMessageCase] = [
    CopyMessageCase("missing source", ["@/missing", "@/out"]),
    CopyMessageCase("missing sources among good ones (each said, the good one copied)", ["@/missing1", "@/file", "@/missing2", "@/out"]),
    CopyMessageCase("directory without -r", ["@/dir", "@/out"]),
    CopyMessageCase("directory into itself", ["-r", "@/dir", "@/dir/sub/inner"]),
    CopyMessageCase("directory into itself, into an existing directory", ["-r", "@/dir", "@/dir"]),
    CopyMessageCase("same file", ["@/file", "@/file"]),
    CopyMessageCase("same file by another path", ["@/file", "@/./file"]),
    CopyMessageCase("several sources, target a file", ["@/file", "@/file2", "@/file"]),
    CopyMessageCase("several sources, target missing", ["@/file", "@/file2", "@/nonexist"]),
    CopyMessageCase("target ends in / and does not exist", ["@/file", "@/nonexist/"]),
    CopyMessageCase("target under a file", ["@/file", "@/file/x"]),
    CopyMessageCase("target's directory missing: a file", ["@/file", "@/nodir/x"]),
    CopyMessageCase("target's directory missing: a directory", ["-r", "@/dir", "@/nodir/x"]),
    CopyMessageCase("target's directory missing: a symbolic link", ["-P", "@/dangling", "@/nodir/x"]),
    CopyMessageCase("target's directory missing: a FIFO", ["-r", "@/items/fifo", "@/nodir/x"]),
    CopyMessageCase("target a dangling symbolic link", ["@/file", "@/dangling"]),
    CopyMessageCase("directory onto a file", ["-r", "@/dir", "@/file"]),
    CopyMessageCase("file onto a directory", ["@/file", "@/hasdir"]),
    CopyMessageCase("source ends in / but is a file", ["@/file/", "@/x"]),
    CopyMessageCase("no destination", ["@/file"]),
    CopyMessageCase("no operand", []),
    CopyMessageCase("into an existing directory named with a trailing /", ["@/file", "@/file2", "@/out/"]),
    CopyMessageCase("operands named as typed: repeated and trailing slashes", ["@//missing//", "@/.//dir/", "@//out"]),
    CopyMessageCase("destination named as typed", ["@/file", "@/.//nodir//x"]),
    CopyMessageCase("into itself, named as typed", ["-r", "@/dir/", "@/dir//sub/"]),
    CopyMessageCase("target named as typed", ["@/file", "@/file2", "@/missing//"]),
    CopyMessageCase("-n leaves an existing file without a word", ["-n", "@/file", "@/file2"]),
    CopyMessageCase("unreadable source", asNobody: true, ["@/secret", "@/out/s"]),
    CopyMessageCase("unwritable destination directory", asNobody: true, ["@/file", "@/locked/copy"]),
    CopyMessageCase("source in an unsearchable directory", asNobody: true, ["@/unsearch/f", "@/out/u"]),
    CopyMessageCase("destination in an unsearchable directory", asNobody: true, ["@/file", "@/unsearch/x"]),
    CopyMessageCase("several sources into an unsearchable directory", asNobody: true, ["@/file", "@/file2", "@/unsearch"]),
    CopyMessageCase("unreadable directory in a tree", asNobody: true, ["-r", "@/tree", "@/out/tree"]),
    CopyMessageCase("unreadable directory named", asNobody: true, ["-r", "@/tree/locked", "@/out/locked"]),
    CopyMessageCase("read-only destination file of another user", asNobody: true, ["@/file", "@/rofile"]),
    CopyMessageCase(
        "every kind into an unwritable directory", asNobody: true,
        ["-r", "@/items/d", "@/items/fifo", "@/items/link", "@/items/f", "@/locked/"]),
    CopyMessageCase("into a directory that can be searched and written, not read", asNobody: true, ["@/file", "@/writeonly/"]),
    CopyMessageCase("out of a directory that can be searched, not read", asNobody: true, ["@/writeonly/inside", "@/out/inside"]),
]

extension RuntimeSuite {
    /// torus-cp's messages are cp's, word for word (the program name aside), with cp's exit status.
    @Suite("torus-cp messages")
    struct CopyMessages {
        @Test("the same stderr and exit status as GNU cp", arguments: copyMessageCases)
        func sameAsCp(_ testCase: CopyMessageCase) throws {
            if testCase.asNobody {
                try #require(getuid() == 0 && FileManager.default.isExecutableFile(atPath: "/usr/bin/setpriv"), "needs root to become uid 65534")
            }
            let base = "/tmp/torus-cp-messages-\(getpid())"
            try? FileManager.default.removeItem(atPath: base)
            try FileManager.default.createDirectory(atPath: base, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o755])
            defer { try? FileManager.default.removeItem(atPath: base) }
            let binary = base + "/torus-cp"
            try FileManager.default.copyItem(atPath: builtExecutable("torus-cp"), toPath: binary)
            // Each program in a fixture of its own (a failed copy may leave part of one behind).
            var outcomes: [ProcessOutcome] = []
            for (program, name, fixture) in [("/bin/cp", "/bin/cp", base + "/cp"), (binary, "torus-cp", base + "/torus")] {
                try makeMessageFixture(at: fixture)
                let arguments = testCase.arguments.map { $0.replacingOccurrences(of: "@", with: fixture) }
                let nobody = ["--reuid=65534", "--regid=65534", "--clear-groups", program]
                var outcome = testCase.asNobody ? try runProcess("/usr/bin/setpriv", nobody + arguments) : try runProcess(program, arguments)
                outcome.stderr = outcome.stderr.replacingOccurrences(of: fixture, with: "FIXTURE")
                    .replacingOccurrences(of: name + ": ", with: "PROGRAM: ").replacingOccurrences(of: "'\(name) --help'", with: "'PROGRAM --help'")
                outcomes.append(outcome)
            }
            let (cp, torus) = (outcomes[0], outcomes[1])
            #expect(torus.status == cp.status, "torus-cp: \(torus.stderr)\ncp: \(cp.stderr)")
            // Lines in any order: cp copies several sources one after the other, torus-cp at once.
            #expect(
                torus.stderr.split(separator: "\n").sorted() == cp.stderr.split(separator: "\n").sorted(),
                "torus-cp:\n\(torus.stderr)\ncp:\n\(cp.stderr)")
            // And what is there afterwards is the same (a refused copy leaves nothing behind).
            // Except that cp copies a directory into itself until it meets the copy, torus-cp not
            // at all; and that cp makes the copy of a directory it then cannot read (left empty),
            // torus-cp does not.
            let leftByCp = [
                Array("dir/sub/inner".utf8), Array("dir/sub/dir".utf8), Array("dir/dir".utf8), Array("out/tree/locked".utf8),
                Array("out/locked".utf8),
            ]
            func after(_ fixture: String) -> [[UInt8]: ExactEntry] {
                exactTree(fixture).filter { entry in !leftByCp.contains { entry.key.starts(with: $0) } }
            }
            #expect(after(base + "/torus") == after(base + "/cp"), "the trees differ after the copy")
        }

        @Test(
            "a full disk: cp's words, 'error writing' from another file system, 'error copying' within one",
            .enabled(if: getuid() == 0, "mounts tmpfs file systems"))
        func fullDisk() throws {
            let root = try makeTemporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: root) }
            _ = FileManager.default.createFile(atPath: root + "/big", contents: Data(repeating: 0x5a, count: 16 << 20))
            var stderrs: [String: [String]] = [:]
            for (program, name) in [("/bin/cp", "/bin/cp"), (builtExecutable("torus-cp"), "torus-cp")] {
                let disk = try #require(try mountScratch("tmpfs", in: root, options: "size=8m"))
                defer {
                    _ = try? runProcess("/bin/umount", [disk])
                    try? FileManager.default.removeItem(atPath: disk)
                }
                let across = try runProcess(program, [root + "/big", disk + "/big"])
                _ = try runProcess("/bin/rm", ["-f", disk + "/big"])
                _ = FileManager.default.createFile(atPath: disk + "/five", contents: Data(repeating: 0xa5, count: 5 << 20))
                let within = try runProcess(program, [disk + "/five", disk + "/five2"])
                #expect(across.status == 1 && within.status == 1, "\(name): \(across.stderr) \(within.stderr)")
                stderrs[name] = [across.stderr, within.stderr].map { $0.replacingOccurrences(of: name + ": ", with: "PROGRAM: ") }
            }
            #expect(stderrs["torus-cp"] == stderrs["/bin/cp"])
            #expect(stderrs["torus-cp"]?.first?.hasPrefix("PROGRAM: error writing '") == true)
            #expect(stderrs["torus-cp"]?.last?.hasPrefix("PROGRAM: error copying '") == true)
        }

        @Test(
            "odd names are quoted as cp quotes them (spaces, quotes, shell characters, control bytes, invalid UTF-8), in a UTF-8 and in the C locale",
            arguments: ["C.UTF-8", "C"])
        func quoting(locale: String) throws {
            let names: [[UInt8]] = [
                Array("a b".utf8), Array("it's".utf8), Array("a\nb".utf8), Array("\nfoo".utf8), Array("tab\there".utf8),
                Array("it's $HOME".utf8), [0x78, 0xff, 0x79], Array("naïve ☃".utf8), Array("{".utf8), Array("a{b".utf8),
                Array("#x'".utf8), Array("x#'".utf8), Array("a'b\"c".utf8), Array("?".utf8), Array("a\\b".utf8),
                Array("é'".utf8), [0x01], [0x7f], Array("\u{85}".utf8), Array("a\n'".utf8), [0x78, 0xe2, 0x82],
                Array("€ok'".utf8), Array("'".utf8),
            ]
            var environment = ProcessInfo.processInfo.environment
            environment["LC_ALL"] = nil
            environment["LC_CTYPE"] = nil
            environment["LANG"] = locale
            environment["SWIFT_BACKTRACE"] = "enable=no"
            for name in names {
                // A missing source: "cannot stat" and the name, from each program.
                let operand = Array("/nonexistent-torus-cp-test/".utf8) + name
                var stderrs: [[UInt8]] = []
                for program in ["/bin/cp", builtExecutable("torus-cp")] {
                    // The operand as bytes: Foundation passes a String's UTF-8, so invalid bytes
                    // go through a shell that writes them with printf (a name ending in a newline
                    // would lose it to the command substitution: none does).
                    let process = Process()
                    process.executableURL = URL(fileURLWithPath: "/bin/sh")
                    let octal = operand.map { "\\" + String($0, radix: 8) }.joined()
                    process.arguments = ["-c", "exec \"$0\" \"$(printf '\(octal)')\" /tmp/torus-cp-never-written 2>&1", program]
                    process.environment = environment
                    let pipe = Pipe()
                    process.standardOutput = pipe
                    try process.run()
                    let output = pipe.fileHandleForReading.readDataToEndOfFile()
                    process.waitUntilExit()
                    #expect(process.terminationStatus == 1)
                    let prefix = Array((program == "/bin/cp" ? "/bin/cp: " : "torus-cp: ").utf8)
                    stderrs.append(Array(Array(output).dropFirst(prefix.count)))
                }
                #expect(
                    stderrs[0] == stderrs[1],
                    "\(name): cp \(String(decoding: stderrs[0], as: UTF8.self)) torus-cp \(String(decoding: stderrs[1], as: UTF8.self))")
                #expect(stderrs[0].starts(with: Array("cannot stat ".utf8)))
            }
        }
    }
}
