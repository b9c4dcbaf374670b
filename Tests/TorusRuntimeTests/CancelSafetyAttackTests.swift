import Foundation
import Synchronization
import Testing
import TorusTestSupport

@testable import Torus
@testable import TorusChannels

/// A reader fed by a channel, one chunk per read (the rest of a chunk on the next): a peer whose
/// bytes arrive exactly when the test says, and whose waits a deadline can stop.
final class ChunkReader: AsyncReader {
    let chunks: MPSC.Receiver<[UInt8]>
    private var leftover: [UInt8] = []
    init(_ chunks: MPSC.Receiver<[UInt8]>) { self.chunks = chunks }

    func read(into buffer: IOBuffer, maxLength: Int) async throws -> Int {
        if leftover.isEmpty {
            guard let chunk = try await chunks.receive() else { return 0 }
            leftover = chunk
        }
        let n = min(leftover.count, maxLength, buffer.freeCapacity)
        buffer.append(leftover[..<n])
        leftover.removeFirst(n)
        return n
    }
}

/// Runs `body` in a task on `core` and gives it `limit` to finish; a task still running then
/// is cancelled (Torus waits all honour task cancellation) and reported as hung, so a missed
/// wake-up fails the test instead of blocking the suite.
func finishes<T: Sendable>(within limit: Duration, on core: Placement = .current, _ body: @escaping @Sendable () async throws -> T) async throws -> T?
{
    let done = SharedFlag()
    let work = spawn(on: core) { () -> T in
        defer { done.set() }
        return try await body()
    }
    let start = ContinuousClock.now
    while !done.isSet && ContinuousClock.now - start < limit { try await sleep(for: .milliseconds(2)) }
    if !done.isSet {
        work.cancel()
        _ = await work.result
        return nil
    }
    return try await work.value
}

extension RuntimeSuite {
    @Suite("Cancel safety under attack")
    struct CancelSafetyAttackTests {
        // MARK: BufferedReader

        @Test("a readExactly stopped by a deadline leaves a newline in the reader: the next readLine stops at it")
        func delimiterLeftByCancelledRead() async throws {
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            let lines = try await runtime.handle.spawn(on: .core(0)) { () -> [String] in
                let (tx, rx) = MPSC.unbounded([UInt8].self)
                let reader = BufferedReader(ChunkReader(rx))
                try tx.trySend(Array("ab\ncd".utf8))
                do {
                    _ = try await withTimeout(.milliseconds(10)) { try await reader.readExactly(10) }
                    Issue.record("readExactly(10) returned with 5 bytes sent")
                } catch is TimeoutError {}
                // The same with readUntil of another delimiter.
                try tx.trySend(Array("ef\ngh".utf8))
                do {
                    _ = try await withTimeout(.milliseconds(10)) { try await reader.readUntil(UInt8(ascii: ";")) }
                    Issue.record("readUntil(;) returned without a ;")
                } catch is TimeoutError {}
                try tx.trySend(Array("ij\n".utf8))
                tx.finish()
                var lines: [String] = []
                while let line = try await withTimeout(.seconds(5), { try await reader.readLine() }) { lines.append(line) }
                return lines
            }.value
            #expect(lines == ["ab", "cdef", "ghij"])
        }

        @Test("readLine(maxLength: .max) and readUntil(maxLength: .max) do not overflow")
        func readLineHugeLimit() async throws {
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            let lines = try await runtime.handle.spawn(on: .core(0)) { () -> [String] in
                let reader = BufferedReader(BytesReader(Array("one\r\ntwo\nthree".utf8)), capacity: 4)
                var lines: [String] = []
                while let line = try await reader.readLine(maxLength: .max) { lines.append(line) }
                return lines
            }.value
            #expect(lines == ["one", "two", "three"])
        }

        @Test(
            "a line over maxLength is refused the same way whether it arrived in one read or in several",
            arguments: [4, 1 << 10])
        func readLineLimitIndependentOfChunking(capacity: Int) async throws {
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            let outcomes = try await runtime.handle.spawn(on: .core(0)) { () -> [String] in
                let reader = BufferedReader(BytesReader(Array("abcdefgh\nok\n".utf8)), capacity: capacity)
                var outcomes: [String] = []
                for _ in 0..<2 {
                    do { outcomes.append(try await reader.readLine(maxLength: 5) ?? "end") } catch { outcomes.append("\(type(of: error))") }
                }
                outcomes.append("buffered \(reader.buffered >= 8)")
                return outcomes
            }.value
            // The documented rule: more than maxLength without the end of the line throws and
            // the bytes stay buffered (a caller can drain them with read(into:)).
            #expect(outcomes == ["ReadLimitExceeded", "ReadLimitExceeded", "buffered true"])
        }

        @Test("CRLF split across reads, an empty line, a lone CR at the end, exact maxLength with CRLF")
        func crlfEdges() async throws {
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            let lines = try await runtime.handle.spawn(on: .core(0)) { () -> [String] in
                let (tx, rx) = MPSC.unbounded([UInt8].self)
                let reader = BufferedReader(ChunkReader(rx), capacity: 8)
                for chunk in ["abc\r", "\n\r", "\n", "12345\r", "\nxyz\r"] { try tx.trySend(Array(chunk.utf8)) }
                tx.finish()
                var lines: [String] = []
                while let line = try await reader.readLine(maxLength: 5) { lines.append(line) }
                return lines
            }.value
            #expect(lines == ["abc", "", "12345", "xyz"])
        }

        // MARK: scopes and multishot operations

        @Test("a token stops iterating listener.connections (a multishot accept), and a deadline stops receivedChunks")
        func multishotUnderScopes() async throws {
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            let (accepting, receiving) = try await runtime.handle.spawn(on: .core(0)) { () -> (String, String) in
                let listener = try TCPListener.bind("127.0.0.1:0")
                let address = try listener.localAddress
                let accepting =
                    try await finishes(within: .seconds(2)) { () -> String in
                        let token = CancellationToken()
                        spawn {
                            try await sleep(for: .milliseconds(20))
                            token.cancel()
                        }
                        let outcome = try await token.run {
                            for try await _ in listener.connections {}
                            return "ended"
                        }
                        return outcome ?? "token"
                    } ?? "hung"
                let receiving =
                    try await finishes(within: .seconds(2)) { () -> String in
                        async let server = listener.accept()
                        let client = try await TCPStream.connect(to: address)
                        let peer = try await server
                        var chunks = try client.receivedChunks().makeAsyncIterator()
                        var outcome = "ended"
                        do {
                            _ = try await withTimeout(.milliseconds(20)) { try await chunks.next() }
                        } catch {
                            outcome = "\(type(of: error))"
                        }
                        // The same iterator goes on: bytes sent after the deadline arrive.
                        try await peer.writeAll("hi")
                        let chunk = try await withTimeout(.seconds(5)) { try await chunks.next() }
                        return outcome + (chunk.map { " then \($0.count) bytes" } ?? " then end")
                    } ?? "hung"
                return (accepting, receiving)
            }.value
            #expect(accepting == "token")
            #expect(receiving == "TimeoutError then 2 bytes")
        }

        // MARK: tokens

        @Test("a child token that is dropped is freed while its parent lives")
        func childTokenIsFreed() async throws {
            let parent = CancellationToken()
            weak var weakChild: CancellationToken?
            do {
                let child = parent.child()
                weakChild = child
                #expect(!child.isCancelled)
            }
            #expect(weakChild == nil, "the parent's hook keeps every child token alive until the parent is cancelled")
            withExtendedLifetime(parent) {}
        }

        // MARK: scopes outliving their body

        @Test("a plain Task created inside a deadline scope is not cancelled by the scope's end, and a select in it does not spin")
        func taskOutlivingScope() async throws {
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            let (received, selected, polls) = try await runtime.handle.spawn(on: .core(0)) { () -> (String, String, Int) in
                // Some other scope alive in the process (while none is, waits skip the lookup).
                let elsewhere = spawn(on: .core(1)) { try await withTimeout(.seconds(30)) { try await Notify().notified() } }
                defer { elsewhere.cancel() }
                try await sleep(for: .milliseconds(5))
                let (tx, rx) = MPSC.unbounded(Int.self)
                let receiving = try await withTimeout(.seconds(30)) {
                    Task { try await rx.receive() }
                }
                try await sleep(for: .milliseconds(10))
                try tx.trySend(5)
                let received: String
                switch await receiving.result {
                case .success(let value): received = "\(value ?? -1)"
                case .failure(let error): received = "\(type(of: error))"
                }

                let (tx2, rx2) = MPSC.unbounded(Int.self)
                let polls = SharedCounter()
                // A deadline, not a token, so that a spinning select stops by itself.
                let selecting = try await withTimeout(.milliseconds(300)) {
                    Task { () -> Int in
                        try await select(
                            .receive(from: rx2) { $0 ?? -1 },
                            SelectBranch(
                                attempt: {
                                    polls.increment()
                                    return nil
                                }, watch: { _ in SelectWatch(disarm: nil) }))
                    }
                }
                try await sleep(for: .milliseconds(20))
                try tx2.trySend(6)
                let selected: String
                switch await selecting.result {
                case .success(let value): selected = "\(value)"
                case .failure(let error): selected = "\(type(of: error))"
                }
                return (received, selected, polls.value)
            }.value
            #expect(received == "5")
            #expect(selected == "6")
            #expect(polls < 100, "the select polled \(polls) times in 20 ms")
        }

        @Test("withTimeout off a core does not leave its fallback timer task (and the scope) behind")
        func offCoreScopeTimerIsCancelled() async throws {
            weak var weakScope: CancelScope?
            let (tx, rx) = MPSC.unbounded(Int.self)
            let sender = Task {
                try await Task.sleep(for: .milliseconds(5))
                try tx.trySend(1)
            }
            let value = try await withTimeout(.seconds(3600)) { () -> Int? in
                weakScope = CancelScope.current
                return try await rx.receive()
            }
            _ = await sender.result
            #expect(value == 1)
            for _ in 0..<50 where weakScope != nil { try await Task.sleep(for: .milliseconds(2)) }
            #expect(weakScope == nil, "a Task.sleep(3600 s) still holds the ended scope")
        }

        // MARK: select

        @Test("an operation branch reused by a second select does not replay the first one's cancellation")
        func operationBranchReuse() async throws {
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            let outcomes = try await runtime.handle.spawn(on: .core(0)) { () -> [String] in
                let (tx, rx) = MPSC.unbounded(Int.self)
                try tx.trySend(1)
                let slow = SelectBranch<String>.operation({
                    try await sleep(for: .milliseconds(20))
                    return 7
                }) { "operation \($0)" }
                var outcomes: [String] = []
                for _ in 0..<3 {
                    do {
                        outcomes.append(try await select(biased: true, .receive(from: rx) { "received \($0 ?? -1)" }, slow))
                    } catch {
                        outcomes.append("\(type(of: error))")
                    }
                }
                return outcomes
            }.value
            #expect(outcomes == ["received 1", "operation 7", "operation 7"])
        }

        @Test("huge, zero and negative durations: withTimeout, select timers and sleeps behave")
        func extremeDurations() async throws {
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            let results = try await runtime.handle.spawn(on: .core(0)) { () -> [String] in
                var results: [String] = []
                let (tx, rx) = MPSC.unbounded(Int.self)
                spawn {
                    try await sleep(for: .milliseconds(5))
                    try tx.trySend(1)
                }
                results.append("\(try await withTimeout(.seconds(Int64.max)) { try await rx.receive() } ?? -1)")
                try await withTimeout(.seconds(Int64.max)) { try await sleep(for: .milliseconds(1)) }
                results.append(try await select(.sleep(for: .seconds(Int64.max)) { "never" }, .sleep(for: .milliseconds(2)) { "short" }))
                results.append(try await select(.sleep(for: .seconds(-5)) { "past" }))
                for duration in [Duration.zero, .seconds(-1), .seconds(Int64.min)] {
                    do {
                        _ = try await withTimeout(duration) { try await rx.receive() }
                        results.append("returned")
                    } catch {
                        results.append("\(type(of: error))")
                    }
                }
                try await sleep(for: .milliseconds(5))  // the cancelled timers' final completions
                let inFlight = Core.current!.driver.operations.inFlight
                results.append("inFlight \(inFlight)")
                return results
            }.value
            #expect(results == ["1", "short", "past", "TimeoutError", "TimeoutError", "TimeoutError", "inFlight 0"])
        }

        // MARK: cross-core races

        @Test("tokens cancelled from the other core at random moments: every run ends, nothing is lost or taken twice")
        func tokenRacesAcrossCores() async throws {
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            let (received, nils, inFlight) = try await runtime.handle.spawn(on: .core(0)) { () -> ([Int], Int, Int) in
                let (tx, rx) = MPSC.bounded(Int.self, capacity: 4)
                let producer = spawn(on: .core(1)) {
                    for value in 0..<3000 { try await tx.send(value) }
                    tx.finish()
                }
                var received: [Int] = []
                var nils = 0
                var i = 0
                loop: while true {
                    i += 1
                    let token = CancellationToken()
                    let delay = Duration.microseconds((i &* 13) % 40)
                    spawn(on: .core(1)) {
                        try await sleep(for: delay)
                        token.cancel()
                    }
                    let kind = i % 3
                    let outcome: Int?? = try await token.run { () -> Int? in
                        switch kind {
                        case 0: return try await rx.receive()
                        case 1:
                            return try await select(.receive(from: rx) { $0 }, .sleep(for: .milliseconds(1)) { -2 })
                        default:
                            try await sleep(for: .seconds(1))  // the token always wins this one
                            return -2
                        }
                    }
                    switch outcome {
                    case nil: nils += 1
                    case .some(nil): break loop
                    case .some(.some(let value)): if value >= 0 { received.append(value) }
                    }
                }
                try await producer.value
                try await sleep(for: .milliseconds(5))
                return (received, nils, Core.current!.driver.operations.inFlight)
            }.value
            #expect(received == Array(0..<3000))
            #expect(nils > 0, "no token won: the test did not exercise the race")
            #expect(inFlight == 0)
        }

        @Test("a deadline scope used by core task group children on both cores: channel waits and sleeps stop at it")
        func scopeAcrossCoreTaskGroup() async throws {
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            let (outcome, waited) = try await runtime.handle.spawn(on: .core(0)) { () -> (String, Duration) in
                let (_tx, rx) = MPSC.unbounded(Int.self)
                var outcome = ""
                let waited = await elapsed {
                    do {
                        try await withTimeout(.milliseconds(30)) {
                            try await withThrowingCoreTaskGroup(of: Void.self) { group in
                                group.spawn(on: .core(1)) { _ = try await rx.receive() }
                                group.spawn(on: .core(1)) { try await sleep(for: .seconds(10)) }
                                group.spawn(on: .core(0)) { try await Notify().notified() }
                                try await group.waitForAll()
                            }
                        }
                        outcome = "returned"
                    } catch {
                        outcome = "\(type(of: error))"
                    }
                }
                withExtendedLifetime(_tx) {}
                return (outcome, waited)
            }.value
            #expect(outcome == "TimeoutError")
            #expect(waited < .seconds(2))
        }

        @Test("watch and broadcast senders dropped on another core wake a select waiting on them")
        func closeDuringSelect() async throws {
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            let outcomes = try await runtime.handle.spawn(on: .core(0)) { () -> [String] in
                var outcomes: [String] = []
                /// Makes the channels and hands both senders to a task on core 1, which drops them.
                func channelsClosedOnCore1(round: Int) -> (Watch.Receiver<Int>, Broadcast.Receiver<Int>) {
                    let watchSender = Watch.channel(0).0
                    let broadcast = Broadcast.Sender<Int>(capacity: 2)
                    let receivers = (watchSender.subscribe(), broadcast.subscribe())
                    spawn(on: .core(1)) {
                        if round % 2 == 0 { try await sleep(for: .microseconds(round % 50)) }
                        withExtendedLifetime((watchSender, broadcast)) {}
                    }
                    return receivers
                }
                for round in 0..<200 {
                    let (watcher, subscriber) = channelsClosedOnCore1(round: round)
                    var seen: [String] = []
                    while seen.count < 2 {
                        let event: String? = try await withTimeout(.seconds(2)) {
                            try await select(
                                .changed(watcher) { $0 == nil ? (seen.contains("watch") ? nil : "watch") : "watch value" },
                                .receive(from: subscriber) { result in
                                    if case .failure(.closed) = result { return seen.contains("broadcast") ? nil : "broadcast" }
                                    return "broadcast other"
                                })
                        }
                        if let event { seen.append(event) }
                        if seen.count == 2 || (seen.contains("watch") && seen.contains("broadcast")) { break }
                    }
                    if round == 0 { outcomes = seen.sorted() }
                    if seen.sorted() != ["broadcast", "watch"] { outcomes.append("round \(round): \(seen)") }
                }
                return outcomes
            }.value
            #expect(outcomes == ["broadcast", "watch"])
        }

        @Test("shutdown while selects and deadline scopes wait: the waiting tasks are cancelled, none abandoned")
        func shutdownDuringWaits() async throws {
            let runtime = try makeRuntime()
            let (tx, rx) = MPSC.unbounded(Int.self)
            let started = SharedCounter()
            for core in 0..<2 {
                runtime.handle.spawn(on: .core(core)) {
                    started.increment()
                    _ = try await withTimeout(.seconds(60)) {
                        try await select(.receive(from: rx) { $0 }, .sleep(for: .seconds(60)) { nil })
                    }
                }
                runtime.handle.spawn(on: .core(core)) {
                    started.increment()
                    let token = CancellationToken()
                    _ = try await token.run { try await Notify().notified() }
                }
            }
            while started.value < 4 { try await Task.sleep(for: .milliseconds(1)) }
            try await Task.sleep(for: .milliseconds(10))
            let report = await runtime.shutdown(gracePeriod: .milliseconds(20), cancellationWait: .seconds(2))
            withExtendedLifetime(tx) {}
            #expect(report.abandonedTasks == 0)
            #expect(report.cancelledTasks == 4)
        }

        @Test("100k select iterations over a channel, a watch, a token and a timer leave no watcher, hook or timer behind")
        func selectLoopLeavesNothing() async throws {
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            let (count, watchers, inFlight) = try await runtime.handle.spawn(on: .core(0)) { () -> (Int, Int, Int) in
                let (tx, rx) = MPSC.bounded(Int.self, capacity: 16)
                let (config, watcher) = Watch.channel(0)
                let token = CancellationToken()
                let total = 100_000
                spawn(on: .core(1)) {
                    for value in 0..<total {
                        try await tx.send(value)
                        if value % 1000 == 0 { config.send(value) }
                    }
                    tx.finish()
                }
                var count = 0
                var i = 0
                loop: while true {
                    i += 1
                    let done: Bool = try await select(
                        .receive(from: rx) { value in
                            guard value != nil else { return true }
                            count += 1
                            return false
                        },
                        .changed(watcher) { _ in false },
                        .cancelled(token) { true },
                        .sleep(for: .microseconds(i % 7 == 0 ? 1 : 500)) { false })
                    if done { break loop }
                }
                try await sleep(for: .milliseconds(5))
                let watchers =
                    rx.storage.state.withLock { $0.receiveWatchers.count + $0.sendWatchers.count }
                    + watcher.storage.state.withLock { $0.waiters.count }
                return (count, watchers, Core.current!.driver.operations.inFlight)
            }.value
            #expect(count == 100_000)
            #expect(watchers == 0)
            #expect(inFlight == 0)
        }

        @Test("breaking out of listener.connections does not leave a multishot accept taking the next connections")
        func breakOutOfConnections() async throws {
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            let outcome = try await runtime.handle.spawn(on: .core(0)) { () -> String in
                let listener = try TCPListener.bind("127.0.0.1:0")
                let address = try listener.localAddress
                async let first = TCPStream.connect(to: address)
                for try await _ in listener.connections { break }
                _ = try await first
                try await sleep(for: .milliseconds(5))
                return try await finishes(within: .seconds(2)) { () -> String in
                    async let second = TCPStream.connect(to: address)
                    _ = try await listener.accept()
                    _ = try await second
                    return "accepted"
                } ?? "hung: the abandoned multishot accept took the connection"
            }.value
            #expect(outcome == "accepted")
        }

        @Test(
            "select forms at the edges: biased with otherwise, otherwise under a passed deadline, an operation with otherwise, a ready branch under a passed deadline"
        )
        func selectEdges() async throws {
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            let results = try await runtime.handle.spawn(on: .core(0)) { () -> [String] in
                var results: [String] = []
                let (tx, rx) = MPSC.unbounded(Int.self)
                let (_emptyTx, empty) = MPSC.unbounded(Int.self)
                try tx.trySend(1)
                results.append(
                    try await select(
                        biased: true, .receive(from: empty) { _ in "empty" }, .receive(from: rx) { "rx \($0 ?? -1)" }, otherwise: { "otherwise" }))
                results.append(
                    try await select(
                        biased: true, .receive(from: empty) { _ in "empty" }, .receive(from: rx) { "rx \($0 ?? -1)" }, otherwise: { "otherwise" }))
                results.append(try await withTimeout(.zero) { try await select(.receive(from: empty) { _ in "empty" }, otherwise: { "otherwise" }) })
                let ran = SharedFlag()
                results.append(
                    try await select(
                        .operation({
                            try await sleep(for: .seconds(5))
                            ran.set()
                            return 1
                        }) { "op \($0)" }, otherwise: { "otherwise" }))
                results.append("operation finished \(ran.isSet)")
                try tx.trySend(2)
                results.append(try await withTimeout(.zero) { try await select(.receive(from: rx) { "rx \($0 ?? -1)" }) })
                do {
                    _ = try await withTimeout(.zero) { try await select(.receive(from: empty) { _ in "empty" }) }
                } catch {
                    results.append("\(type(of: error))")
                }
                withExtendedLifetime(_emptyTx) {}
                return results
            }.value
            #expect(results == ["rx 1", "otherwise", "otherwise", "otherwise", "operation finished false", "rx 2", "TimeoutError"])
        }

        @Test(
            "50k receives each under its own long deadline (a scope timer armed and cancelled each time) leave no timer in flight and no memory growth",
            .disabled(if: sanitizer == "address", "AddressSanitizer's quarantine keeps freed memory resident"))
        func manyScopesLeaveNothing() async throws {
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            func residentPages() -> Int {
                let statm = (try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8)) ?? "0 0"
                return Int(statm.split(separator: " ")[1]) ?? 0
            }
            let (received, growth, inFlight) = try await runtime.handle.spawn(on: .core(0)) { () -> (Int, Int, Int) in
                let (tx, rx) = MPSC.bounded(Int.self, capacity: 8)
                let total = 50_000
                spawn(on: .core(1)) {
                    for value in 0..<total { try await tx.send(value) }
                    tx.finish()
                }
                let token = CancellationToken()
                var received = 0
                var before = 0
                while true {
                    if received == total / 5 { before = residentPages() }
                    let value = try await token.run {
                        try await withTimeout(.seconds(60)) { try await rx.receive() }
                    }
                    guard let value, value != nil else { break }
                    received += 1
                }
                try await sleep(for: .milliseconds(5))
                return (received, residentPages() - before, Core.current!.driver.operations.inFlight)
            }.value
            #expect(received == 50_000)
            #expect(growth < 5_000, "resident memory grew by \(growth) pages")
            #expect(inFlight == 0)
        }

        // MARK: rings

        @Test("a small ring: hundreds of operations with linked timeouts at once all time out or finish", arguments: [1, 8, 16])
        func smallRingUnderDeadlines(entries: UInt32) async throws {
            let runtime = try Runtime(RuntimeConfiguration(cores: .count(1), ringEntries: entries))
            defer { runtime.shutdown() }
            let (timedOut, finished, inFlight) = try await runtime.handle.spawn(on: .core(0)) { () -> (Int, Int, Int) in
                let timedOut = SharedCounter()
                let finished = SharedCounter()
                var tasks: [JoinHandle<Void>] = []
                let (tx, rx) = MPSC.unbounded(Int.self)
                for i in 0..<400 {
                    tasks.append(
                        spawn {
                            do {
                                // Ring operations with linked timeouts, and channel waits whose scopes
                                // each arm a ring timer (while the ring is full).
                                try await withTimeout(.milliseconds(30 * timingScale)) {
                                    switch i % 4 {
                                    case 0: try await sleep(for: .seconds(5))
                                    case 1: try await sleep(for: .milliseconds(1))
                                    case 2: _ = try await rx.receive()
                                    default: try await Notify().notified()
                                    }
                                }
                                finished.increment()
                            } catch is TimeoutError {
                                timedOut.increment()
                            }
                        })
                }
                try await sleep(for: .milliseconds(10))
                for value in 0..<100 { try tx.trySend(value) }
                for task in tasks { try await task.value }
                try await sleep(for: .milliseconds(5))
                return (timedOut.value, finished.value, Core.current!.driver.operations.inFlight)
            }.value
            #expect(timedOut == 200)
            #expect(finished == 200)
            #expect(inFlight == 0)
        }
    }
}
