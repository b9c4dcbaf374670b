import Foundation
import Synchronization
import Testing

@testable import Torus

/// Whether io_uring works here; tests that need it skip (never pass vacuously) when it does not.
package let ioUringProbe: Result<RuntimeCapabilities, any Error> = Result { try RuntimeCapabilities.probe() }
package let ioUringAvailable: Bool = (try? ioUringProbe.get()) != nil
package let ioUringSkipReason: Comment = {
    if case .failure(let error) = ioUringProbe { return "skipped: io_uring is unavailable here: \(error)" }
    return "io_uring available"
}()

/// The top-level suite: serialized, because its tests measure time, count threads and pin
/// threads to CPUs, and parallel neighbours would make those numbers lie.
@Suite("Torus runtime", .serialized, .enabled(if: ioUringAvailable, ioUringSkipReason))
package struct RuntimeSuite {}

/// A two-core runtime for one test.
/// The sanitizer the tests were built with (`./dev.sh sanitize thread|address` sets
/// TORUS_SANITIZER), nil in a plain build.
package let sanitizer: String? = ProcessInfo.processInfo.environment["TORUS_SANITIZER"]
/// How much longer timing-based waits may take: a sanitized build runs several times slower.
package let timingScale: Int = sanitizer == nil ? 1 : 10

package func makeRuntime(cores: Int = 2, maxBlockingThreads: Int = 8) throws -> Runtime {
    try Runtime(RuntimeConfiguration(cores: .count(cores), maxBlockingThreads: maxBlockingThreads))
}

/// Milliseconds elapsed while running `body`.
package func elapsed(_ body: () async throws -> Void) async rethrows -> Duration {
    let start = ContinuousClock.now
    try await body()
    return ContinuousClock.now - start
}

/// Path of an executable built next to the test bundle.
package func builtExecutable(_ name: String) -> String {
    let me = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
    var directory = me.deletingLastPathComponent()
    // The runner may live inside a `.xctest` bundle directory.
    if directory.pathExtension == "xctest" { directory = directory.deletingLastPathComponent() }
    return directory.appendingPathComponent(name).path
}

package struct ProcessOutcome {
    package var status: Int32
    package var stdout: String
    package var stderr: String
}

/// A child process of the tests: the program at `path` with `arguments`, this process's
/// environment with Swift's backtracer off (children that crash or are killed on purpose print
/// no backtrace) and `extra` on top. Start it with ``runUnpinned(_:)``.
package func childProcess(_ path: String, _ arguments: [String], environment extra: [String: String] = [:]) -> Process {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: path)
    process.arguments = arguments
    var environment = ProcessInfo.processInfo.environment
    environment["SWIFT_BACKTRACE"] = "enable=no"
    environment.merge(extra) { $1 }
    process.environment = environment
    return process
}

/// Starts `process` with every CPU allowed: a child inherits the spawning thread's CPU set, and
/// a global-executor thread created by a pinned core thread inherits that core's one CPU (seen:
/// tutorial children with 1 core).
package func runUnpinned(_ process: Process) throws {
    try ThreadAffinity.unpinCurrentThread()
    try process.run()
}

/// Runs a program to completion and captures its output.
package func runProcess(_ path: String, _ arguments: [String], environment extra: [String: String] = [:]) throws -> ProcessOutcome {
    let process = childProcess(path, arguments, environment: extra)
    let out = Pipe()
    let err = Pipe()
    process.standardOutput = out
    process.standardError = err
    try runUnpinned(process)
    // Both pipes are read at once: reading stdout to its end first deadlocks as soon as the
    // child fills the stderr pipe (64 KiB) before exiting, which a sanitizer report at exit
    // does (found under ASan, issue #13).
    let errReader = PipeReader(err)
    let outData = out.fileHandleForReading.readDataToEndOfFile()
    let errData = errReader.wait()
    process.waitUntilExit()
    return ProcessOutcome(
        status: process.terminationStatus,
        stdout: String(decoding: outData, as: UTF8.self),
        stderr: String(decoding: errData, as: UTF8.self))
}

/// State owned by one core and only touched on that core's thread.
package final class CoreLocal<Value>: @unchecked Sendable {
    package var value: Value
    package init(_ value: Value) { self.value = value }
}

/// An atomic integer that closures can capture (an `Atomic` itself is not copyable).
package final class SharedCounter: Sendable {
    package init() {}
    private let storage = Atomic<Int>(0)
    package func increment() { storage.wrappingAdd(1, ordering: .relaxed) }
    package var value: Int { storage.load(ordering: .relaxed) }
}

/// An atomic flag that closures can capture.
package final class SharedFlag: Sendable {
    package init() {}
    private let storage = Atomic<Bool>(false)
    package func set() { storage.store(true, ordering: .relaxed) }
    package var isSet: Bool { storage.load(ordering: .relaxed) }
}

/// Reads a pipe to its end on a thread of its own.
package final class PipeReader: @unchecked Sendable {
    // @unchecked: `data` is written by the reading thread before it leaves `group`, and read
    // only after `group.wait()`.
    private var data = Data()
    private let group = DispatchGroup()

    package init(_ pipe: Pipe) {
        let handle = pipe.fileHandleForReading
        DispatchQueue.global().async(group: group) { self.data = handle.readDataToEndOfFile() }
    }

    package func wait() -> Data {
        group.wait()
        return data
    }
}
