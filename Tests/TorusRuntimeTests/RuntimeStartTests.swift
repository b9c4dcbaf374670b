import Foundation
import Testing
import TorusTestSupport

@testable import Torus

extension RuntimeSuite {
    @Suite("Starting and running")
    struct Start {
        @Test("Runtime.run returns the entry point's value")
        func runReturnsValue() throws {
            let value = try Runtime.run(RuntimeConfiguration(cores: .count(2))) {
                let a = spawn(on: .core(0)) { 40 }
                let b = spawn(on: .core(1)) { 2 }
                return try await a.value + b.value
            }
            #expect(value == 42)
        }

        @Test("Runtime.run rethrows the entry point's error")
        func runRethrows() {
            struct Boom: Error {}
            #expect(throws: Boom.self) {
                try Runtime.run(RuntimeConfiguration(cores: .count(1))) { () -> Int in throw Boom() }
            }
        }

        @Test("the default configuration starts one core per allowed CPU, pinned")
        func defaultCores() throws {
            let runtime = try Runtime()
            defer { runtime.shutdown() }
            let allowed = Runtime.allowedCPUs
            #expect(runtime.cores.count == allowed.count)
            #expect(runtime.cores.map(\.cpu) == allowed.map { Optional($0) })
            let placements = try runtime.block {
                var seen: [Int] = []
                for core in RuntimeHandle.current!.cores {
                    // Pinned: the thread's own mask is its CPU; the process's set is unchanged.
                    seen.append(
                        try await spawn(on: .core(core.index)) {
                            ThreadAffinity.allowedCPUs == [core.cpu!] && Runtime.allowedCPUs == allowed ? core.index : -1
                        }.value)
                }
                return seen
            }
            #expect(placements == Array(0..<allowed.count))
        }

        @Test("capabilities name the setup flags and operations")
        func capabilities() throws {
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            let report = runtime.capabilities
            #expect(report.cores.count == 2)
            #expect(report.cores.allSatisfy { !$0.setupFlags.isEmpty && $0.operations.contains("TIMEOUT") })
            #expect(report.description.contains("kernel"))
        }

        @Test(
            "bad configurations are rejected with the field named",
            arguments: [
                RuntimeConfiguration(cores: .count(0)),
                RuntimeConfiguration(cores: .cpus([])),
                RuntimeConfiguration(cores: .cpus([4095])),
                RuntimeConfiguration(maxBlockingThreads: 0),
            ])
        func badConfiguration(configuration: RuntimeConfiguration) {
            #expect {
                _ = try Runtime(configuration)
            } throws: { error in
                guard case RuntimeError.invalidConfiguration(let message)? = error as? RuntimeError else { return false }
                return message.contains("cores") || message.contains("maxBlockingThreads")
            }
        }

        @Test("a memlock limit of 0 for a non-root user gives an error naming RLIMIT_MEMLOCK")
        func memlockLimit() throws {
            let helper = builtExecutable("TorusTestHelper")
            let setpriv = "/usr/bin/setpriv"
            let prlimit = "/usr/bin/prlimit"
            let canDropPrivileges = getuid() == 0 && FileManager.default.isExecutableFile(atPath: setpriv)
            try #require(FileManager.default.isExecutableFile(atPath: helper), "helper not built at \(helper)")
            try #require(FileManager.default.isExecutableFile(atPath: prlimit), "prlimit (util-linux) is missing")
            // The build directory may be private (CI clones into a 0700 temp dir): run a copy
            // from a directory uid 65534 can enter.
            let directory = "/tmp/torus-memlock-\(getpid())"
            try? FileManager.default.removeItem(atPath: directory)
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o755])
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let copy = directory + "/TorusTestHelper"
            try FileManager.default.copyItem(atPath: helper, toPath: copy)
            try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: copy)
            let outcome: ProcessOutcome
            if canDropPrivileges {
                outcome = try runProcess(setpriv, ["--reuid=65534", "--regid=65534", "--clear-groups", prlimit, "--memlock=0", copy, "probe"])
            } else if getuid() != 0 {
                outcome = try runProcess(prlimit, ["--memlock=0", copy, "probe"])
            } else {
                Issue.record("running as root without setpriv: cannot make a non-root child")
                return
            }
            #expect(outcome.status == 2, "stdout: \(outcome.stdout) stderr: \(outcome.stderr)")
            #expect(outcome.stderr.contains("ENOMEM"))
            #expect(outcome.stderr.contains("RLIMIT_MEMLOCK"))
            #expect(outcome.stderr.contains("ulimit -l"))
        }
    }
}
