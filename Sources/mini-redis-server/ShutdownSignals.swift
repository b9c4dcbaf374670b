import Logging
import ServiceLifecycle
import Synchronization
import UnixSignals

/// The one owner of SIGTERM and SIGINT, a service in the `ServiceGroup`: the first of them
/// ends this service, which starts the group's graceful shutdown (its
/// `successTerminationBehavior` is `.gracefullyShutdownGroup`), and is kept for the exit status.
///
/// Why not the group's own `gracefulShutdownSignals`: the group does not say which signal
/// stopped it, and the exit status must (128 + the signal, as a shell reports a process killed
/// by it). Both listen through UnixSignals; having both would make two owners.
final class ShutdownSignals: Service, Sendable {
    private let logger: Logger
    private let caught = Mutex<UnixSignal?>(nil)
    /// Trapping from initialisation on, not from when the group starts this service: the group
    /// starts its services concurrently, and a SIGTERM between the "listening on" line and the
    /// trap killed the server with the default action (status 15, not 143).
    private let signals: UnixSignalsSequence

    init(logger: Logger) async {
        self.logger = logger
        self.signals = await UnixSignalsSequence(trapping: .sigterm, .sigint)
    }

    /// The signal that started the shutdown, if one did.
    var signal: UnixSignal? { caught.withLock { $0 } }

    /// Waits for SIGTERM or SIGINT, or for a graceful shutdown that something else started.
    func run() async {
        for await signal in signals.cancelOnGracefulShutdown() {
            caught.withLock { $0 = signal }
            logger.notice("received \(signal), shutting down")
            return
        }
    }
}
