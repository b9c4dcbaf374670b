import ArgumentParser
import Logging

/// `--loglevel`: redis's level names, mapped onto swift-log's levels.
///
/// redis has four (`debug`, `verbose`, `notice`, `warning`); swift-log's `info` sits where
/// redis's `verbose` does, between debug detail and the notices an operator reads.
enum LogLevel: String, ExpressibleByArgument, CaseIterable, Sendable {
    case debug, verbose, notice, warning

    /// The swift-log level that shows what redis shows at this one.
    var level: Logger.Level {
        switch self {
        case .debug: .debug
        case .verbose: .info
        case .notice: .notice
        case .warning: .warning
        }
    }
}

/// The program's logger: standard output, as redis logs with `logfile ""` (its default), so a
/// service manager's journal gets the lines in order with the "listening on" line.
func makeLogger(_ level: LogLevel) -> Logger {
    var logger = Logger(label: "mini-redis-server") { StreamLogHandler.standardOutput(label: $0) }
    logger.logLevel = level.level
    return logger
}
