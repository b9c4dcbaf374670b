import Foundation
import Testing
import TorusTestSupport

extension RuntimeSuite {
    /// --direct for files of any size, and numeric options that cannot trap.
    @Suite("torus-cp option limits")
    struct CopyOptionLimits {
        @Test("--direct copies files of any size exactly (the unaligned tail through the page cache)")
        func directAnySize() throws {
            let root = try makeTemporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: root) }
            try FileManager.default.createDirectory(atPath: root + "/src", withIntermediateDirectories: false)
            for (index, size) in [0, 1, 4095, 4096, 4097, (1 << 20) + 3, 3 << 20].enumerated() {
                createFile(Array("\(root)/src/f\(size)".utf8), pseudoRandomBytes(size, seed: UInt64(50 + index)))
            }
            for method in ["auto", "read-write"] {
                let outcome = try torusCopy(["-r", "--direct", "--method", method, "--chunk-size", "64K", root + "/src", root + "/dst-\(method)"])
                #expect(outcome.status == 0, "\(method): \(outcome.stderr)")
                #expect(exactTree(root + "/dst-\(method)") == exactTree(root + "/src"), "\(method)")
            }
        }

        @Test(
            "numeric options out of range are usage errors with exit status 1, never a crash",
            arguments: [
                ["--chunk-size", "99999999999999999G"], ["--chunk-size", "9223372036854775807"], ["--chunk-size", "-4K"],
                ["--queue-depth", "99999999999999999999"], ["--queue-depth", "9223372036854775807"], ["--cores", "0"],
                ["--cores", "9223372036854775807"],
            ])
        func numericOverflow(option: [String]) throws {
            let outcome = try torusCopy(option + ["/dev/null", "/tmp/torus-cp-never-written"])
            #expect(outcome.status == 1, "\(option): \(outcome.stderr)")
            #expect(outcome.stderr.contains("Try 'torus-cp --help' for more information."), "\(outcome.stderr)")
            #expect(!FileManager.default.fileExists(atPath: "/tmp/torus-cp-never-written"))
        }
    }
}
