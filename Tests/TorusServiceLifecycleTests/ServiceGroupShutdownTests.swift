import Foundation
import Glibc
import Testing
import Torus

private let ioUringAvailable = (try? RuntimeCapabilities.probe()) != nil

/// A ServiceGroup running Torus services, in a child process (TorusServiceHelper), stopped
/// with a real signal.
@Suite(
    "TorusServiceLifecycle: ServiceGroup shutdown", .serialized,
    .enabled(if: ioUringAvailable, "skipped: io_uring is unavailable here"))
struct ServiceGroupShutdownTests {
    @Test("SIGTERM or SIGINT reaches the tasks on the cores, and the process exits once the grace period is over", arguments: [SIGTERM, SIGINT])
    func signalStopsTheGroup(signal: Int32) throws {
        let gracePeriod = Duration.milliseconds(800)
        let child = try ChildProcess(helperPath(), ["800"])
        defer { child.terminate() }
        try #require(child.waitForLine("ready", timeout: .seconds(10)), "helper never got ready: \(child.output)")

        let start = ContinuousClock.now
        kill(child.process.processIdentifier, signal)
        let exited = child.waitForExit(timeout: gracePeriod + .seconds(3))
        let took = ContinuousClock.now - start
        try #require(exited, "still running \(took) after the signal: \(child.output)")

        let lines = child.output.split(separator: "\n").map(String.init)
        #expect(child.process.terminationStatus == 0, "\(child.output)")
        #expect(lines.contains("graceful shutdown seen on core 1"), "\(lines)")
        #expect(lines.contains("sleeper cancelled on graceful shutdown"), "\(lines)")
        #expect(lines.contains("stubborn task cancelled after the grace period"), "\(lines)")
        #expect(lines.last == "exited", "\(lines)")
        // The stubborn task holds the runtime for the grace period, and no longer.
        #expect(took >= gracePeriod, "exited before the grace period was over: \(took)")
        #expect(took < gracePeriod + .seconds(2), "took \(took)")
    }
}

/// Path of TorusServiceHelper, built next to the test bundle.
private func helperPath() -> String {
    var directory = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent()
    // The runner may live inside a `.xctest` bundle directory.
    if directory.pathExtension == "xctest" { directory = directory.deletingLastPathComponent() }
    return directory.appendingPathComponent("TorusServiceHelper").path
}

/// A child whose standard output is collected as it arrives.
private final class ChildProcess: @unchecked Sendable {
    // @unchecked: `collected` is only touched under `lock`.
    let process = Process()
    private let lock = NSLock()
    private var collected = Data()

    init(_ path: String, _ arguments: [String]) throws {
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        var environment = ProcessInfo.processInfo.environment
        environment["SWIFT_BACKTRACE"] = "enable=no"
        process.environment = environment
        let out = Pipe()
        process.standardOutput = out
        out.fileHandleForReading.readabilityHandler = { [weak self] handle in
            let data = handle.availableData
            guard let self else { return }
            self.lock.withLock { self.collected.append(data) }
        }
        try process.run()
    }

    var output: String { lock.withLock { String(decoding: collected, as: UTF8.self) } }

    func waitForLine(_ line: String, timeout: Duration) -> Bool {
        poll(timeout) { self.output.split(separator: "\n").contains { $0 == line } }
    }

    func waitForExit(timeout: Duration) -> Bool {
        let exited = poll(timeout) { !self.process.isRunning }
        // The last lines may still be in the pipe when the process is gone.
        if exited { _ = poll(.seconds(1)) { self.output.hasSuffix("exited\n") } }
        return exited
    }

    func terminate() {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
    }

    private func poll(_ timeout: Duration, _ done: () -> Bool) -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if done() { return true }
            usleep(5_000)
        }
        return done()
    }
}
