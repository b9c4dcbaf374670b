import Foundation
import Synchronization
import Testing
@testable import Torus

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
func finishes<T: Sendable>(within limit: Duration, on core: Placement = .current, _ body: @escaping @Sendable () async throws -> T) async throws -> T? {
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

        @Test("a line over maxLength is refused the same way whether it arrived in one read or in several",
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
                let accepting = try await finishes(within: .seconds(2)) { () -> String in
                    let token = CancellationToken()
                    spawn { try await sleep(for: .milliseconds(20)); token.cancel() }
                    let outcome = try await token.run {
                        for try await _ in listener.connections {}
                        return "ended"
                    }
                    return outcome ?? "token"
                } ?? "hung"
                let receiving = try await finishes(within: .seconds(2)) { () -> String in
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
                            SelectBranch(attempt: { polls.increment(); return nil }, watch: { _ in SelectWatch(disarm: nil) }))
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
            let sender = Task { try await Task.sleep(for: .milliseconds(5)); try tx.trySend(1) }
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
                let slow = SelectBranch<String>.operation({ try await sleep(for: .milliseconds(20)); return 7 }) { "operation \($0)" }
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
                spawn { try await sleep(for: .milliseconds(5)); try tx.trySend(1) }
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
                try await sleep(for: .milliseconds(5))   // the cancelled timers' final completions
                let inFlight = Core.current!.operations.inFlight
                results.append("inFlight \(inFlight)")
                return results
            }.value
            #expect(results == ["1", "short", "past", "TimeoutError", "TimeoutError", "TimeoutError", "inFlight 0"])
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
                for i in 0..<400 {
                    tasks.append(spawn {
                        do {
                            try await withTimeout(.milliseconds(30)) { try await sleep(for: i % 2 == 0 ? .seconds(5) : .milliseconds(1)) }
                            finished.increment()
                        } catch is TimeoutError {
                            timedOut.increment()
                        }
                    })
                }
                for task in tasks { try await task.value }
                try await sleep(for: .milliseconds(5))
                return (timedOut.value, finished.value, Core.current!.operations.inFlight)
            }.value
            #expect(timedOut == 200)
            #expect(finished == 200)
            #expect(inFlight == 0)
        }
    }
}
