import Logging
import Synchronization
import Testing

/// Spin (with short sleeps) until `condition` holds, or record an issue after five seconds.
package func eventually(_ condition: @Sendable () async -> Bool) async throws {
    let deadline = ContinuousClock.now + .seconds(5)
    while !(await condition()) {
        if ContinuousClock.now > deadline {
            Issue.record("condition not met within 5 s")
            return
        }
        try await Task.sleep(for: .milliseconds(1))
    }
}

/// The tick of iteration `i` of a select loop: 0 to 100 us, so that the timer branch wins often,
/// sometimes at once and sometimes after a real wait.
package func tick(_ i: Int) -> Duration { .microseconds((i &* 37) % 101) }

/// A log handler that keeps what it is given, for checking what the runtime logs.
package struct CapturingLogHandler: LogHandler {
    package let store: LogStore
    package var logLevel: Logger.Level = .trace
    package var metadata: Logger.Metadata = [:]
    package subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }
    package func log(event: LogEvent) { store.entries.withLock { $0.append((event.level, "\(event.message)")) } }
}

package final class LogStore: Sendable {
    package init() {}
    package let entries = Mutex<[(Logger.Level, String)]>([])
    package var logger: Logger { Logger(label: "test") { [self] _ in CapturingLogHandler(store: self) } }
    package func messages(at level: Logger.Level) -> [String] { entries.withLock { $0.filter { $0.0 == level }.map(\.1) } }
}
