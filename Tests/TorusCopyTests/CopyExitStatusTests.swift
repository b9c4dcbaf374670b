import Foundation
import Testing
import TorusTestSupport

@testable import Torus

/// A 256 MiB file of random bytes: long enough to copy (4K chunks, one in flight, read and
/// write: about 2.7 s in a debug build) that a signal always comes mid-copy.
func makeSlowSource(in root: String) throws -> String {
    let source = root + "/big"
    let block = Data(pseudoRandomBytes(1 << 20, seed: 9))
    _ = FileManager.default.createFile(atPath: source, contents: nil)
    let writer = try FileHandle(forWritingTo: URL(fileURLWithPath: source))
    for _ in 0..<256 { try writer.write(contentsOf: block) }
    try writer.close()
    return source
}

/// The flags that make a copy of `makeSlowSource` slow.
let slowCopyFlags = ["--method", "read-write", "--chunk-size", "4K", "--queue-depth", "1", "--no-progress"]

/// Starts the built torus-cp copying `source` to `destination` slowly (``slowCopyFlags``), with
/// `options` first; its standard error goes to `standardError` when given.
func startSlowCopy(_ source: String, to destination: String, options: [String] = [], standardError: Pipe? = nil) throws -> Process {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: builtExecutable("torus-cp"))
    process.arguments = options + slowCopyFlags + [source, destination]
    if let standardError { process.standardError = standardError }
    try process.run()
    return process
}

extension RuntimeSuite {
    @Suite("torus-cp exit statuses")
    struct CopyExitStatus {
        @Test(
            "torus-cp stopped by a signal mid-copy: 128+N, the signal named, no temporary file, no destination, --json says so",
            arguments: [(SIGTERM, "SIGTERM"), (SIGHUP, "SIGHUP")])
        func copyStoppedBySignal(signal: Int32, name: String) throws {
            let root = try makeTemporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: root) }
            let source = try makeSlowSource(in: root)
            try FileManager.default.createDirectory(atPath: root + "/out", withIntermediateDirectories: false)
            let errors = Pipe()
            let process = try startSlowCopy(source, to: root + "/out/copy", options: ["--json"], standardError: errors)
            // Signal once the copy is under way (its temporary file exists).
            waitForTemporaryFile(in: root + "/out")
            kill(process.processIdentifier, signal)
            let stderr = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            process.waitUntilExit()
            #expect(process.terminationReason == .exit)
            #expect(process.terminationStatus == 128 + signal, "the copy finished before the signal: make it longer. \(stderr)")
            #expect(stderr.contains("torus-cp: interrupted by \(name)"), "\(stderr)")
            #expect(try FileManager.default.contentsOfDirectory(atPath: root + "/out").isEmpty, "no destination, no temporary file")
            let json = stderr.split(separator: "\n").first { $0.hasPrefix("{") }.map { String($0) } ?? ""
            let object = try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any]
            #expect(object?["signal"] as? String == name, "\(json)")
            #expect(object?["files"] as? Int == 0, "\(json)")
        }
    }
}
