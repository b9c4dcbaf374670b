import ArgumentParser
import Foundation
import Synchronization
import Torus

/// The servers and clients `torus-echo bench` has running, so that a signal to the bench stops
/// them too: a SIGTERM sent to the bench alone (not to its process group, as Ctrl-C is) would
/// otherwise leave a pinned server running with nobody to stop it.
final class BenchChildren: Sendable {
    private let running = Mutex<[Int32: Process]>([:])

    /// Starts `process` and keeps it until ``finished(_:)``.
    func run(_ process: Process) throws {
        try running.withLock { running in
            // Under the lock: a signal handled meanwhile waits, then sees this child.
            try process.run()
            running[process.processIdentifier] = process
        }
    }

    func finished(_ process: Process) {
        _ = running.withLock { $0.removeValue(forKey: process.processIdentifier) }
    }

    /// On the first of `signals`: SIGTERM to every child (each stops gracefully), a line naming
    /// the signal, and exit 128+N. What was measured before was printed as it was measured.
    func stopAll(on signals: SignalListener) {
        Task.detached {
            guard let signal = try? await signals.next() else { return }
            let children = self.running.withLock { Array($0.values) }
            for child in children where child.isRunning { child.terminate() }
            for child in children { child.waitUntilExit() }
            printError("torus-echo bench: stopped by \(signal); the lines above are the runs that finished")
            exit(signalExit(signal).rawValue)
        }
    }
}
