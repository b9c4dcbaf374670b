import Foundation
import Testing
import TorusTestSupport

/// Builds a random tree at `root` (which must not exist): names of random bytes (invalid UTF-8
/// included, some of 255 bytes), empty, small and sparse files with assorted modes (setuid
/// too), nested directories, symbolic links (absolute, relative, dangling, looping), hard links
/// and FIFOs.
func makeRandomTree(at root: String, seed: UInt64) {
    var random = SeededGenerator(seed: seed)
    let slash = UInt8(ascii: "/")
    var usedNames: Set<[UInt8]> = []
    func randomName() -> [UInt8] {
        while true {
            let length = Int.random(in: 0..<8, using: &random) == 0 ? 255 : Int.random(in: 1...24, using: &random)
            var name = (0..<length).map { _ in UInt8.random(in: 1...255, using: &random) }
            name = name.map { $0 == slash ? UInt8(ascii: "_") : $0 }
            if name == [46] || name == [46, 46] || usedNames.contains(name) { continue }
            usedNames.insert(name)
            return name
        }
    }
    let modes: [mode_t] = [0o644, 0o600, 0o755, 0o700, 0o444, 0o4755, 0o2755, 0o640, 0o777]
    var files: [[UInt8]] = []
    func fill(_ directory: [UInt8], depth: Int) {
        for _ in 0..<Int.random(in: 3...8, using: &random) {
            let path = directory + [slash] + randomName()
            switch Int.random(in: 0..<11, using: &random) {
            case 10 where !files.isEmpty:
                _ = withCString(files.randomElement(using: &random)!) { existing in withCString(path) { link(existing, $0) } }
            case 0...3:
                let size = [0, 1, 100, 4096, 70_000].randomElement(using: &random)!
                let bytes = (0..<size).map { _ in UInt8.random(in: 0...255, using: &random) }
                let mode = modes.randomElement(using: &random)!
                createFile(path, bytes, mode: mode)
                if getuid() == 0 && Bool.random(using: &random) {
                    // Another owner (chown clears setuid/setgid: the mode is set again).
                    _ = withCString(path) { chown($0, 1000, 1000) }
                    _ = withCString(path) { chmod($0, mode) }
                }
                files.append(path)
            case 4:
                // Sparse: data, a hole of 1 MiB, data.
                createFile(path, Array("head".utf8))
                let fd = withCString(path) { open($0, O_WRONLY) }
                _ = "tail".withCString { pwrite(fd, $0, 4, 1 << 20) }
                close(fd)
            case 5...6 where depth < 3:
                _ = withCString(path) { mkdir($0, 0o755) }
                fill(path, depth: depth + 1)
                _ = withCString(path) { chmod($0, [0o755, 0o700, 0o750, 0o1777].randomElement(using: &random)!) }
            case 7...8:
                // The last one points to itself: a loop.
                let targets: [[UInt8]] = [
                    Array(root.utf8) + [slash] + randomName(), Array("../nowhere".utf8), randomName(),
                    [0x61, 0xff, 0xfe], Array(path.split(separator: slash).last!),
                ]
                let target = targets.randomElement(using: &random)!
                _ = withCString(target) { target in withCString(path) { symlink(target, $0) } }
            default:
                _ = withCString(path) { mkfifo($0, 0o644) }
                _ = withCString(path) { chmod($0, modes.randomElement(using: &random)! & 0o777) }
            }
        }
    }
    _ = mkdir(root, 0o755)
    fill(Array(root.utf8), depth: 0)
}

extension RuntimeSuite {
    /// torus-cp against GNU cp on the same random trees.
    @Suite("torus-cp against GNU cp")
    struct CopyDifferential {
        @Test(
            "random trees: cp -r/-rp/-a and torus-cp -r/-rp/-a give the same types, contents, modes, link targets; times with -p, owners and hard links with -a",
            .enabled(if: FileManager.default.isExecutableFile(atPath: "/bin/cp"), "needs GNU cp"))
        func randomTrees() throws {
            let root = try makeTemporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: root) }
            let trees = ProcessInfo.processInfo.environment["TORUS_STRESS"] == nil ? 3 : 50
            for seed in 1...UInt64(trees) {
                let source = "\(root)/src\(seed)"
                makeRandomTree(at: source, seed: seed)
                for flags in [["-r"], ["-rp"], ["-a"]] {
                    let name = "\(seed)\(flags[0])"
                    let reference = try runProcess("/bin/cp", flags + [source, "\(root)/cp\(name)"])
                    let outcome = try torusCopy(flags + [source, "\(root)/torus\(name)"])
                    #expect(outcome.status == reference.status, "seed \(seed) \(flags): \(outcome.stderr) / cp: \(reference.stderr)")
                    let expected = exactTree("\(root)/cp\(name)", withTimes: flags != ["-r"], withLinks: flags == ["-a"])
                    let actual = exactTree("\(root)/torus\(name)", withTimes: flags != ["-r"], withLinks: flags == ["-a"])
                    #expect(!expected.isEmpty)
                    for (path, entry) in expected where actual[path] != entry {
                        Issue.record(
                            "seed \(seed) \(flags) \(String(decoding: path, as: UTF8.self)): cp \(entry), torus-cp \(actual[path].map { "\($0)" } ?? "missing")"
                        )
                    }
                    for path in actual.keys where expected[path] == nil {
                        Issue.record("seed \(seed) \(flags) \(String(decoding: path, as: UTF8.self)): only in torus-cp's copy")
                    }
                }
            }
        }
    }
}
