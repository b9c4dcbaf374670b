import Foundation
import Glibc
import Testing

@testable import Torus

/// A server child process that prints "listening on ADDRESS" once it is ready.
package final class ListeningProcess {
    package let process: Process
    package let output = Pipe()
    package let errors = Pipe()
    /// The address from the "listening on" line.
    package let address: String
    package let port: UInt16
    /// Lines of stdout before the "listening on" line.
    package let earlierLines: [String]

    package convenience init(_ executable: String, _ arguments: [String], environment extra: [String: String] = [:]) throws {
        try self.init(path: builtExecutable(executable), arguments, environment: extra)
    }

    /// Runs the program at `path` (a wrapper such as `prlimit`, say).
    package init(path: String, _ arguments: [String], environment extra: [String: String] = [:]) throws {
        let executable = URL(fileURLWithPath: path).lastPathComponent
        process = childProcess(path, arguments, environment: extra)
        process.standardOutput = output
        process.standardError = errors
        try runUnpinned(process)
        // Log lines may come first (mini-redis-server logs the metrics endpoint's address
        // before it listens); they are kept in `earlierLines`.
        var text = ""
        var earlier: [String] = []
        while true {
            guard let next = Self.readLine(from: output) else { break }
            if next.hasPrefix("listening on") {
                text = next
                break
            }
            earlier.append(next)
        }
        earlierLines = earlier
        let words = text.split(separator: " ")
        guard text.hasPrefix("listening on"), words.count >= 3,
            let port = words[2].split(separator: ":").last.flatMap({ UInt16($0) })
        else {
            process.terminate()
            throw ProcessError(
                message:
                    "\(executable) did not start: \(earlier.joined(separator: "\n")) \(String(decoding: errors.fileHandleForReading.availableData, as: UTF8.self))"
            )
        }
        self.address = String(words[2])
        self.port = port
    }

    /// One line of `pipe` (without its newline), read a byte at a time so that nothing after
    /// it is consumed; nil at the end of the output.
    package static func readLine(from pipe: Pipe) -> String? {
        var line: [UInt8] = []
        while true {
            let byte = pipe.fileHandleForReading.readData(ofLength: 1)
            guard let first = byte.first else { return line.isEmpty ? nil : String(decoding: line, as: UTF8.self) }
            if first == UInt8(ascii: "\n") { return String(decoding: line, as: UTF8.self) }
            line.append(first)
        }
    }

    /// The next line of stdout after those read so far (it waits for it); nil at the end.
    package func nextLine() -> String? { Self.readLine(from: output) }

    /// `torus-echo server` on an ephemeral port with two cores.
    package static func echoServer(_ arguments: [String] = []) throws -> ListeningProcess {
        try ListeningProcess("torus-echo", ["server", "--port", "0", "--cores", "2"] + arguments)
    }

    /// Sends SIGTERM (or `signal`) and returns the exit status and the rest of stdout.
    package func terminate(signal: Int32 = SIGTERM) -> (Int32, String) {
        kill(process.processIdentifier, signal)
        let rest = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: rest, as: UTF8.self))
    }

    deinit {
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
        }
    }
}

/// A child process did not behave (did not start, did not print its port, exited early).
package struct ProcessError: Error, CustomStringConvertible {
    package var message: String
    package init(message: String) { self.message = message }
    package var description: String { message }
}

/// Waits up to `limit` for the process to exit; kills it (and records a failure) if it does not.
package func waitForExit(_ server: ListeningProcess, within limit: Duration, _ what: String) -> Int32? {
    let deadline = ContinuousClock.now + limit
    while server.process.isRunning && ContinuousClock.now < deadline { usleep(10_000) }
    guard !server.process.isRunning else {
        Issue.record("\(what): still running after \(limit)")
        kill(server.process.processIdentifier, SIGKILL)
        server.process.waitUntilExit()
        return nil
    }
    return server.process.terminationStatus
}
