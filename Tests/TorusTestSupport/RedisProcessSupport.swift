import Foundation
import Glibc

@testable import Torus

/// CPU seconds (user + system) a process has used so far, from `/proc/PID/stat`.
package func processCPUSeconds(_ pid: Int32) throws -> Double {
    let stat = try String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)
    // Fields after the command name in parentheses: state is field 3, utime 14, stime 15.
    guard let close = stat.lastIndex(of: ")") else { throw ProcessError(message: "unreadable /proc/\(pid)/stat") }
    let fields = stat[stat.index(after: close)...].split(separator: " ")
    guard fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]) else {
        throw ProcessError(message: "unreadable /proc/\(pid)/stat")
    }
    return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
}

/// Resident memory of a process in bytes, from `/proc/PID/status` (`VmRSS`).
package func processResidentBytes(_ pid: Int32) throws -> Int {
    let status = try String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)
    guard let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
        let kilobytes = line.split(separator: " ").dropFirst().first.flatMap({ Int($0) })
    else {
        throw ProcessError(message: "no VmRSS in /proc/\(pid)/status")
    }
    return kilobytes << 10
}

/// `mini-redis-server` on an ephemeral loopback port with two cores.
package func miniRedisProcess(_ arguments: [String] = [], environment: [String: String] = [:]) throws -> ListeningProcess {
    try ListeningProcess("mini-redis-server", ["--port", "0", "--cores", "2"] + arguments, environment: environment)
}

/// `redis-cli -p PORT words...`: its exit status and trimmed output.
package func redisCLI(port: UInt16, _ words: [String]) throws -> (status: Int32, output: String) {
    guard let cli = ["/usr/bin/redis-cli", "/usr/local/bin/redis-cli"].first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
        throw ProcessError(message: "redis-cli is not installed")
    }
    let outcome = try runProcess(cli, ["-p", "\(port)"] + words)
    return (outcome.status, (outcome.stdout + outcome.stderr).trimmingCharacters(in: .whitespacesAndNewlines))
}

/// mini-redis-server's exit status after a graceful shutdown on SIGTERM (128 + 15, as a shell
/// reports a process the signal ended; `ListeningProcess.terminate()` sends SIGTERM).
package let miniRedisStatusAfterSIGTERM: Int32 = 128 + SIGTERM
