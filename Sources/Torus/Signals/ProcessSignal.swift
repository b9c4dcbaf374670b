import Glibc
import Synchronization
import TorusRing

/// A signal the process can wait for with ``waitForSignal(_:)``.
public enum ProcessSignal: Int32, Sendable, CaseIterable, CustomStringConvertible {
    /// `SIGHUP`: the terminal hung up; daemons take it to mean "reload".
    case hangup = 1
    /// `SIGINT`: Ctrl-C.
    case interrupt = 2
    /// `SIGQUIT`: Ctrl-\\.
    case quit = 3
    /// `SIGUSR1`: for the program's own use.
    case user1 = 10
    /// `SIGUSR2`: for the program's own use.
    case user2 = 12
    /// `SIGTERM`: a polite request to stop (what `kill` and service managers send).
    case terminate = 15

    /// The C name, `SIGINT` and so on.
    public var description: String {
        switch self {
        case .hangup: "SIGHUP"
        case .interrupt: "SIGINT"
        case .quit: "SIGQUIT"
        case .user1: "SIGUSR1"
        case .user2: "SIGUSR2"
        case .terminate: "SIGTERM"
        }
    }
}

/// Waits until the process receives one of `signals` and returns which: the
/// `tokio::signal::ctrl_c()` of Torus, for graceful shutdown.
///
/// ```swift
/// let received = try await waitForSignal([.interrupt, .terminate])
/// print("got \(received), shutting down")
/// ```
///
/// The first call for a signal replaces its default action (for SIGINT and SIGTERM: ending the
/// process) with delivery to waiters, for the rest of the process's life, as tokio does. A
/// waiter only sees signals that arrive after it started waiting; to have the handlers in place
/// before some work starts and wait later, make a ``SignalListener`` first. Any thread or core
/// may wait.
///
/// Cancel safety: a cancelled wait reports nothing, and since each call listens afresh, a
/// signal that arrives between a cancelled call and the next one is not seen by the next (it is
/// not delivered to the default action either). To miss none across waits, keep one
/// ``SignalListener`` and call its ``SignalListener/next()``.
///
/// - Throws: `CancellationError` if the waiting task is cancelled; ``SignalError`` if the
///   handler cannot be installed.
public func waitForSignal(_ signals: Set<ProcessSignal> = [.interrupt, .terminate]) async throws -> ProcessSignal {
    try await SignalListener(signals).next()
}

/// Handlers installed now, deliveries awaited later: every signal in the set that arrives after
/// the listener was made is reported by ``next()``, none lost in between.
///
/// ```swift
/// let signals = try SignalListener([.interrupt, .terminate])   // before the work starts
/// let outcome = await signals.cancelling { try await work() }   // a signal cancels `work`
/// ```
///
/// ``cancelling(_:)`` is the usual way to use one; ``next()`` is there for loops that react to
/// each signal (reload on SIGHUP, say).
public final class SignalListener: Sendable {
    private let signals: Set<ProcessSignal>
    private let deliveries: Watch.Receiver<[Int32: Int]>
    /// Deliveries of each signal already reported.
    private let reported: Mutex<[Int32: Int]>

    /// Installs the handlers for `signals` (replacing their default actions) at once.
    public init(_ signals: Set<ProcessSignal> = [.interrupt, .terminate]) throws(SignalError) {
        precondition(!signals.isEmpty, "a SignalListener needs at least one signal")
        let hub = try SignalHub.shared()
        // Subscribe before installing, so that a signal in between is seen.
        let receiver = hub.deliveries.subscribe()
        self.signals = signals
        deliveries = receiver
        reported = Mutex(receiver.current)
        try hub.install(signals)
    }

    /// The next signal of the set not reported yet, waiting for one if need be.
    ///
    /// Cancel safety: cancel safe. A call stopped by cancellation or a
    /// ``withTimeout(_:isolation:_:)`` deadline marks no signal as reported: one that arrived
    /// meanwhile is returned by the next call. (Deliveries of one signal between two calls are
    /// reported once, as most signal APIs coalesce them.)
    /// - Throws: `CancellationError` if the waiting task is cancelled.
    public func next() async throws -> ProcessSignal {
        while true {
            let now = deliveries.current
            let found = reported.withLock { seen -> ProcessSignal? in
                for signal in ProcessSignal.allCases where signals.contains(signal) {
                    let count = now[signal.rawValue, default: 0]
                    if count > seen[signal.rawValue, default: 0] {
                        seen[signal.rawValue] = count
                        return signal
                    }
                }
                return nil
            }
            if let found { return found }
            try await deliveries.changed()
        }
    }
}

/// A signal handler could not be set up.
public struct SignalError: Error, Sendable, CustomStringConvertible {
    /// The call that failed (`sigaction`, `pipe`, ...).
    public var operation: String
    /// The system error.
    public var errno: Errno
    /// The call and the error.
    public var description: String { "\(operation) failed: \(errno)" }
}

/// The process-wide relay: one pipe, one thread reading it, a watch channel counting
/// deliveries per signal.
final class SignalHub: Sendable {
    let deliveries: Watch.Sender<[Int32: Int]>
    /// The signals whose handler is installed.
    private let installed = Mutex<Set<Int32>>([])
    private static let instance = Mutex<SignalHub?>(nil)

    static func shared() throws(SignalError) -> SignalHub {
        try instance.withLock { (hub: inout SignalHub?) throws(SignalError) -> SignalHub in
            if let hub { return hub }
            let created = try SignalHub()
            hub = created
            return created
        }
    }

    private init() throws(SignalError) {
        let readEnd: Int32
        do {
            readEnd = try SignalRelay.open()
        } catch {
            throw SignalError(operation: "pipe2 for the signal relay", errno: error)
        }
        let (sender, _) = Watch.channel([Int32: Int]())
        deliveries = sender
        let thread = OSThread.start(name: "torus-signals") { [sender] in
            var byte: UInt8 = 0
            while true {
                let count = Glibc.read(readEnd, &byte, 1)
                if count == 1 && byte >= SignalRelay.announcement {
                    // A new signal was installed: make sure this thread can receive it, even if
                    // the process was started with it blocked (as test runners do).
                    SignalRelay.unblockOnCurrentThread(Int32(byte - SignalRelay.announcement))
                } else if count == 1 {
                    let number = Int32(byte)
                    sender.modify { $0[number, default: 0] += 1 }
                } else if count < 0 && errno == EINTR {
                    continue
                } else {
                    return
                }
            }
        }
        guard let thread else { throw SignalError(operation: "starting the signal thread", errno: .resourceTemporarilyUnavailable) }
        // It lives as long as the process; nobody joins it.
        checkPthread(pthread_detach(thread.handle), "pthread_detach")
    }

    func install(_ signals: Set<ProcessSignal>) throws(SignalError) {
        try installed.withLock { (done: inout Set<Int32>) throws(SignalError) in
            for signal in signals where !done.contains(signal.rawValue) {
                do throws(Errno) {
                    try SignalRelay.install(signal.rawValue)
                } catch {
                    throw SignalError(operation: "sigaction(\(signal))", errno: error)
                }
                done.insert(signal.rawValue)
                SignalRelay.announce(signal.rawValue)
            }
        }
    }
}
