import Foundation
import Testing
import TorusTestSupport

@testable import Torus

extension RuntimeSuite {
    @Suite("torus-cp with nobody reading its stdout")
    struct CopyClosedStdout {
        /// `torus-cp -rv SRC DST | head -1`: -v's lines go to a pipe whose reader is gone.
        /// `writeWhole` drops a message it cannot write (EPIPE) and the copy goes on; with
        /// SIGPIPE's default action the first such write killed the process instead, leaving the
        /// temporary files of the copies in flight behind (and no exit status of its own).
        @Test("torus-cp -v into a pipe nobody reads: the copy completes, exit 0, no temporary file left")
        func verboseIntoClosedPipe() throws {
            let root = try makeTemporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: root) }
            try FileManager.default.createDirectory(atPath: root + "/src", withIntermediateDirectories: false)
            let contents = Data(repeating: 0x61, count: 64 << 10)
            for index in 0..<500 {
                _ = FileManager.default.createFile(atPath: root + "/src/f\(index)", contents: contents)
            }
            let process = childProcess(builtExecutable("torus-cp"), ["-rv", "--no-progress", root + "/src", root + "/dst"])
            let out = Pipe()
            let errors = Pipe()
            process.standardOutput = out
            process.standardError = errors
            try runUnpinned(process)
            // The reader goes away at once, long before the 500 lines.
            try out.fileHandleForReading.close()
            let stderr = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            process.waitUntilExit()
            #expect(process.terminationReason == .exit, "killed by signal \(process.terminationStatus). \(stderr)")
            #expect(process.terminationStatus == 0, "\(stderr)")
            let copied = (try? FileManager.default.contentsOfDirectory(atPath: root + "/dst")) ?? []
            #expect(!copied.contains { $0.hasPrefix(".tcp-") }, "no temporary file left")
            #expect(copied.count == 500, "every file copied")
        }
    }
}
