import Glibc

/// Connecting to the first of several addresses that answers, as RFC 8305 ("Happy Eyeballs
/// Version 2") says: IPv6 first, families interleaved, a new attempt every 250 ms while the
/// earlier ones are still pending (or at once when one fails), the first connection wins and
/// the others are cancelled and closed.
///
/// Why not one address after the other: an address that drops packets (a broken IPv6 route, a
/// firewall, a server whose accept queue is full) makes a connect wait for the kernel's SYN
/// retries, minutes; racing a second attempt after 250 ms costs a few packets instead.
enum HappyEyeballs {
    /// RFC 8305's recommended "Connection Attempt Delay".
    static let attemptDelay: Duration = .milliseconds(250)

    /// `addresses` in the order to try them (RFC 8305 section 4): duplicates removed, then IPv6
    /// and IPv4 taking turns, IPv6 first, each family in its given order.
    static func order(_ addresses: [SocketAddress]) -> [SocketAddress] {
        var unique: [SocketAddress] = []
        for address in addresses where !unique.contains(address) { unique.append(address) }
        var ipv6 = unique.filter { $0.family == AF_INET6 }[...]
        var others = unique.filter { $0.family != AF_INET6 }[...]
        var ordered: [SocketAddress] = []
        while !ipv6.isEmpty || !others.isEmpty {
            if let next = ipv6.popFirst() { ordered.append(next) }
            if let next = others.popFirst() { ordered.append(next) }
        }
        return ordered
    }

    /// What a child of the race reports.
    private enum Event: Sendable {
        case connected(TCPStream)
        case failed(any Error)
        /// The delay before attempt `attempt` (an index in the ordered list) has passed.
        case delayElapsed(attempt: Int)
        /// A delay's sleep was cancelled: the race is over, or its deadline passed.
        case delayStopped
    }

    /// Connects to the first of `addresses` (already ordered) that accepts.
    ///
    /// Each attempt and each delay is a child task on the caller's core, so cancelling the
    /// caller (or its deadline) cancels every pending connect in the kernel, and the group
    /// does not end before every child has: no attempt outlives the call.
    /// - Throws: ``ConnectError`` when every attempt failed; `CancellationError` (the deadline
    ///   of a ``withTimeout(_:isolation:_:)`` scope too); ``RuntimeError`` off a core.
    static func connect(to addresses: [SocketAddress], host: String?, attemptDelay: Duration = attemptDelay) async throws -> TCPStream {
        guard !addresses.isEmpty else { throw ConnectError(host: host, attempts: []) }
        guard let core = Core.current else { throw RuntimeError.notOnRuntimeThread(operation: "connect") }
        let outcome = await withTaskGroup(of: Event.self) { group -> Result<TCPStream, any Error> in
            var started = 0
            var pending = 0
            var failures: [IOError] = []

            func startAttempt(_ group: inout TaskGroup<Event>) {
                let address = addresses[started]
                started += 1
                pending += 1
                group.addTask(executorPreference: core) {
                    do {
                        return .connected(try await TCPStream.connect(to: address))
                    } catch {
                        return .failed(error)
                    }
                }
                guard started < addresses.count else { return }
                let next = started
                group.addTask(executorPreference: core) {
                    do {
                        try await sleep(for: attemptDelay)
                        return .delayElapsed(attempt: next)
                    } catch {
                        return .delayStopped
                    }
                }
            }

            startAttempt(&group)
            while let event = await group.next() {
                switch event {
                case .connected(let stream):
                    await finish(&group)
                    return .success(stream)
                case .failed(let error as IOError):
                    pending -= 1
                    failures.append(error)
                    if started < addresses.count {
                        // RFC 8305: a failed attempt starts the next one without waiting.
                        startAttempt(&group)
                    } else if pending == 0 {
                        await finish(&group)
                        return .failure(ConnectError(host: host, attempts: failures))
                    }
                case .failed(let error):
                    // Cancelled, a deadline, or the runtime stopping: the race ends with it.
                    await finish(&group)
                    return .failure(error)
                case .delayElapsed(let attempt):
                    // A stale delay (its attempt already started after a failure) is ignored.
                    if attempt == started { startAttempt(&group) }
                case .delayStopped:
                    break
                }
            }
            // Unreachable: the group holds a pending attempt until one of the returns above.
            return .failure(ConnectError(host: host, attempts: failures))
        }
        return try outcome.get()
    }

    /// Cancels the attempts still pending and closes the connections of those that won the
    /// kernel's race but lost this one.
    private static func finish(_ group: inout TaskGroup<Event>) async {
        group.cancelAll()
        while let event = await group.next() {
            // An explicit close, rather than leaving the descriptor to the stream's deinit, so
            // the loser's descriptor is gone before the caller gets its connection. Its error is
            // ignored: the descriptor is released whatever close reports, and nobody uses the
            // connection.
            if case .connected(let loser) = event { try? await loser.close() }
        }
    }
}
