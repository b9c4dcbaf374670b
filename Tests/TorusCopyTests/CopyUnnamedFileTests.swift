import Foundation
import Testing
import TorusTestSupport

@testable import Torus

/// The names in `directory`, sorted.
private func names(in directory: String) throws -> [String] {
    try FileManager.default.contentsOfDirectory(atPath: directory).sorted()
}

extension RuntimeSuite {
    /// A new file's copy is written unnamed (`O_TMPFILE`) and linked in when complete.
    @Suite("torus-cp unnamed files")
    struct CopyUnnamedFiles {
        @Test("killed outright (SIGKILL) mid-copy: neither the destination nor a temporary file is left")
        func killedLeavesNothing() throws {
            let root = try makeTemporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: root) }
            let source = try makeSlowSource(in: root)
            try FileManager.default.createDirectory(atPath: root + "/out", withIntermediateDirectories: false)
            let process = try startSlowCopy(source, to: root + "/out/copy")
            waitForTemporaryFile(in: root + "/out")
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            #expect(process.terminationReason == .uncaughtSignal, "the copy finished before the kill: make it longer")
            // A named temporary file would still be here; an unnamed one died with the process.
            #expect(try names(in: root + "/out") == [])
        }

        @Test("while a new file is copied, its name does not exist until every byte is there, and no temporary name appears")
        func noNameUntilComplete() throws {
            let root = try makeTemporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: root) }
            let source = try makeSlowSource(in: root)
            let size = try FileManager.default.attributesOfItem(atPath: source)[.size] as? Int
            try FileManager.default.createDirectory(atPath: root + "/out", withIntermediateDirectories: false)
            let process = try startSlowCopy(source, to: root + "/out/copy")
            var seen: Set<String> = []
            var partial: [Int] = []
            while process.isRunning {
                for name in (try? names(in: root + "/out")) ?? [] {
                    seen.insert(name)
                    if let length = try? FileManager.default.attributesOfItem(atPath: root + "/out/" + name)[.size] as? Int,
                        name == "copy", length != size
                    {
                        partial.append(length)
                    }
                }
                usleep(500)
            }
            #expect(process.terminationStatus == 0)
            #expect(partial.isEmpty, "the copy was seen unfinished under its name: \(partial.prefix(5))")
            #expect(seen.subtracting(["copy"]).isEmpty, "names seen during the copy: \(seen)")
            #expect(try Data(contentsOf: URL(fileURLWithPath: root + "/out/copy")) == Data(contentsOf: URL(fileURLWithPath: source)))
        }

        @Test("a name made by someone else while the copy ran is never replaced (an error, or left alone with -n); no O_TMPFILE: a temporary name")
        func fallbacks() throws {
            let root = try makeTemporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: root) }
            let bytes = pseudoRandomBytes(300_000, seed: 41)
            try Data(bytes).write(to: URL(fileURLWithPath: root + "/source"))
            try FileManager.default.createDirectory(atPath: root + "/out", withIntermediateDirectories: false)
            let cp = builtExecutable("torus-cp")
            // A file system without O_TMPFILE (EOPNOTSUPP, and EISDIR as older kernels answer):
            // a temporary name is used from the start, and nothing of it is left.
            for (index, rules) in ["open:EOPNOTSUPP@/out/", "open:EISDIR@/out/"].enumerated() {
                let destination = "\(root)/out/copy-\(index)"
                let outcome = try runProcess(cp, [root + "/source", destination], environment: ["TORUS_FAULTS": rules])
                #expect(outcome.status == 0, "\(rules): \(outcome.stderr)")
                #expect(try Data(contentsOf: URL(fileURLWithPath: destination)) == Data(bytes), "\(rules)")
            }
            #expect(try names(in: root + "/out") == ["copy-0", "copy-1"], "no temporary name left")
            // The name taken when the copy is linked in (EEXIST; the review's test makes a real
            // file appear): cp's exclusive create says "File exists"; with -n it is left alone.
            let taken = try runProcess(cp, [root + "/source", root + "/out/copy-2"], environment: ["TORUS_FAULTS": "link:EEXIST@/out/"])
            #expect(taken.status == 1)
            #expect(taken.stderr == "torus-cp: cannot create regular file '\(root)/out/copy-2': File exists\n", "\(taken.stderr)")
            let skipped = try runProcess(cp, ["-n", root + "/source", root + "/out/copy-3"], environment: ["TORUS_FAULTS": "link:EEXIST@/out/"])
            #expect(skipped.status == 0 && skipped.stderr.isEmpty, "\(skipped.stderr)")
            #expect(try names(in: root + "/out") == ["copy-0", "copy-1"])
            // A link that fails for another reason fails the file by name and leaves nothing;
            // one that root may not make with AT_EMPTY_PATH (ENOENT before Linux 6.10 without
            // CAP_DAC_READ_SEARCH) goes through /proc/self/fd (the review's test).
            let outcome = try runProcess(cp, [root + "/source", root + "/out/copy-4"], environment: ["TORUS_FAULTS": "link:EDQUOT@/out/"])
            #expect(outcome.status == 1)
            #expect(outcome.stderr.contains(root + "/out/copy-4"), "\(outcome.stderr)")
            #expect(try names(in: root + "/out") == ["copy-0", "copy-1"])
        }
    }
}
