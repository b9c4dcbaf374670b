import Foundation
import Testing
import TorusTestSupport

@testable import Torus

extension RuntimeSuite {
    @Suite("torus-cp under a low descriptor limit")
    struct CopyDescriptorLimit {
        /// torus-cp keeps 32 files per core and up to 256 directories open at once where the
        /// limit allows; under `ulimit -n 32` it keeps fewer, and copies the tree as cp does
        /// instead of failing with EMFILE (which it did from 64 down). Below ~28 the runtime's
        /// own descriptors (rings, wake-ups, signals: about 15 on two cores) leave too little;
        /// cp, one file at a time with nothing else open, copies at 20.
        @Test(
            "ulimit -n 32: a tree of 240 files in 12 directories is copied exactly, as cp copies it",
            .enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/prlimit"), "needs prlimit"))
        func lowLimit() throws {
            let root = try makeTemporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: root) }
            for directory in 0..<12 {
                let path = "\(root)/src/d\(directory)/e"
                try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
                for file in 0..<20 {
                    let bytes = pseudoRandomBytes(100 + 37 * file, seed: UInt64(directory * 100 + file))
                    try Data(bytes).write(to: URL(fileURLWithPath: "\(path)/f\(file)"))
                }
            }
            for (program, destination) in [("/bin/cp", "cp"), (builtExecutable("torus-cp"), "torus")] {
                let outcome = try runProcess("/usr/bin/prlimit", ["--nofile=32", program, "-r", root + "/src", "\(root)/\(destination)"])
                #expect(outcome.status == 0, "\(destination): \(outcome.stderr)")
            }
            #expect(try treeSignature(root + "/torus") == treeSignature(root + "/src"))
            #expect(try treeSignature(root + "/cp") == treeSignature(root + "/src"))
        }
    }
}
