import Foundation
import Synchronization
import Testing
import TorusTestSupport

@testable import Torus

/// How many values the ownership tests push through select and deadline loops: a quick run in
/// CI, a million with `TORUS_STRESS=1`.
let ownershipTestValues = ProcessInfo.processInfo.environment["TORUS_STRESS"] == "1" ? 1_000_000 : 20_000

/// Checks that every producer's values arrived exactly once and in order.
func expectExactlyOnceInOrder(_ received: [(producer: Int, sequence: Int)], producers: Int, perProducer: Int) {
    var next = Array(repeating: 0, count: producers)
    var outOfOrder = 0
    for (producer, sequence) in received {
        if sequence != next[producer] { outOfOrder += 1 }
        next[producer] = sequence + 1
    }
    #expect(received.count == producers * perProducer, "lost or duplicated values")
    #expect(outOfOrder == 0, "values out of order or duplicated")
    #expect(next == Array(repeating: perProducer, count: producers))
}

/// A loopback peer (call on a core): it accepts one connection and writes `text` once the
/// returned sender is used, so a read on the connection waits until the test says so.
func peerWritingOnSignal(_ text: String) throws -> (address: SocketAddress, go: Oneshot.Sender<Void>) {
    let listener = try TCPListener.bind("127.0.0.1:0")
    let (go, goSignal) = Oneshot.channel(Void.self)
    spawn {
        let peer = try await listener.accept()
        try await goSignal.value
        try await peer.writeAll(text)
        try await peer.close()
    }
    return (try listener.localAddress, go)
}

extension RuntimeSuite {
    @Suite("Cancel safety")
    struct CancelSafetyTests {
        @Test(
            "select loops over an MPSC receive and a 0-100 us timer lose and duplicate nothing, on one core and across cores",
            arguments: [false, true])
        func selectLoopMPSC(crossCore: Bool) async throws {
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            let perProducer = ownershipTestValues / 2
            let (received, ticks) = try await runtime.handle.spawn(on: .core(0)) { () -> ([(producer: Int, sequence: Int)], Int) in
                let (tx, rx) = MPSC.bounded((producer: Int, sequence: Int).self, capacity: 64)
                for producer in 0..<2 {
                    let sender = tx.clone()
                    spawn(on: crossCore ? .core(1) : .current) {
                        for sequence in 0..<perProducer { try await sender.send((producer, sequence)) }
                        sender.finish()
                    }
                }
                tx.finish()
                var received: [(producer: Int, sequence: Int)] = []
                received.reserveCapacity(2 * perProducer)
                var ticks = 0
                var i = 0
                loop: while true {
                    i += 1
                    let done: Bool = try await select(
                        .receive(from: rx) { value in
                            guard let value else { return true }
                            received.append(value)  // non-Sendable state of this task, mutated in a handler
                            return false
                        },
                        .sleep(for: tick(i)) {
                            ticks += 1
                            return false
                        }
                    )
                    if done { break loop }
                }
                return (received, ticks)
            }.value
            expectExactlyOnceInOrder(received, producers: 2, perProducer: perProducer)
            #expect(ticks > 0, "the timer branch never won: the test did not exercise losing receives")
        }

        @Test("select loops over a broadcast receive and a timer see every value once, in order")
        func selectLoopBroadcast() async throws {
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            let count = ownershipTestValues
            let (received, ticks) = try await runtime.handle.spawn(on: .core(0)) { () -> ([Int], Int) in
                let sender = Broadcast.Sender<Int>(capacity: count)
                let receiver = sender.subscribe()
                spawn(on: .core(1)) {
                    for value in 0..<count {
                        sender.send(value)
                        if value % 64 == 0 { try await sleep(for: .zero) }
                    }
                    sender.close()
                }
                var received: [Int] = []
                var ticks = 0
                var i = 0
                while true {
                    i += 1
                    let done: Bool = try await select(
                        .receive(from: receiver) { result in
                            switch result {
                            case .success(let value):
                                received.append(value)
                                return false
                            case .failure(.closed): return true
                            case .failure(let error):
                                Issue.record("unexpected \(error)")
                                return true
                            }
                        },
                        .sleep(for: tick(i)) {
                            ticks += 1
                            return false
                        }
                    )
                    if done { break }
                }
                return (received, ticks)
            }.value
            #expect(received == Array(0..<count))
            #expect(ticks > 0)
        }

        @Test("select loops over watch changes never see a value twice or go back, and end on the last value")
        func selectLoopWatch() async throws {
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            let count = ownershipTestValues
            let (seen, wentBack, last) = try await runtime.handle.spawn(on: .core(0)) { () -> (Int, Int, Int) in
                let (sender, receiver) = Watch.channel(0)
                spawn(on: .core(1)) {
                    for value in 1...count {
                        sender.send(value)
                        if value % 16 == 0 { try await sleep(for: .zero) }
                    }
                }
                var seen = 0
                var wentBack = 0
                var last = 0
                var i = 0
                while true {
                    i += 1
                    let value: Int?? = try await select(
                        .changed(receiver) { Optional($0) },
                        .sleep(for: tick(i)) { nil }
                    )
                    guard let change = value else { continue }
                    guard let change else { break }
                    seen += 1
                    if change <= last { wentBack += 1 }
                    last = change
                    if change == count { break }
                }
                return (seen, wentBack, last)
            }.value
            #expect(seen > 0)
            #expect(wentBack == 0)
            #expect(last == count)
        }

        @Test("receives under a short deadline in a loop lose and duplicate nothing, across cores")
        func deadlineLoopMPSC() async throws {
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            let perProducer = ownershipTestValues / 2
            let (received, timeouts) = try await runtime.handle.spawn(on: .core(0)) { () -> ([(producer: Int, sequence: Int)], Int) in
                let (tx, rx) = MPSC.bounded((producer: Int, sequence: Int).self, capacity: 16)
                for producer in 0..<2 {
                    let sender = tx.clone()
                    spawn(on: .core(1)) {
                        for sequence in 0..<perProducer {
                            try await sender.send((producer, sequence))
                            if sequence % 512 == 0 { try await sleep(for: .microseconds(300)) }
                        }
                        sender.finish()
                    }
                }
                tx.finish()
                var received: [(producer: Int, sequence: Int)] = []
                var timeouts = 0
                var i = 0
                while true {
                    i += 1
                    do {
                        guard let value = try await withTimeout(tick(i), { try await rx.receive() }) else { break }
                        received.append(value)
                    } catch is TimeoutError {
                        timeouts += 1
                    }
                }
                return (received, timeouts)
            }.value
            expectExactlyOnceInOrder(received, producers: 2, perProducer: perProducer)
            #expect(timeouts > 0, "no receive timed out: the test did not exercise the deadline")
        }

        @Test("a deadline cancels a socket read in the kernel; the stream stays usable and nothing is lost")
        func deadlineOnSocketRead() async throws {
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            let (outcome, waited, later, inFlight) = try await runtime.handle.spawn(on: .core(0)) { () -> (String, Duration, String?, Int) in
                let (address, go) = try peerWritingOnSignal("late\n")
                let stream = try await TCPStream.connect(to: address)
                let reader = BufferedReader(stream)
                var outcome = "no error"
                let waited = await elapsed {
                    do {
                        _ = try await withTimeout(.milliseconds(30)) { try await reader.readLine() }
                    } catch {
                        outcome = "\(type(of: error))"
                    }
                }
                let inFlight = Core.current!.driver.operations.inFlight
                go.send(())
                let later = try await withTimeout(.seconds(5)) { try await reader.readLine() }
                return (outcome, waited, later, inFlight)
            }.value
            #expect(outcome == "TimeoutError")
            #expect(waited >= .milliseconds(30) && waited < .seconds(2))
            #expect(later == "late")
            #expect(inFlight == 0, "the timed-out read was cancelled in the kernel, and the link timeout is gone")
        }

        @Test("nested deadlines: the earlier one applies, and the scope whose deadline passed reports it")
        func nestedDeadlines() async throws {
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            let (innerFirst, outerFirst) = try await runtime.handle.spawn(on: .core(0)) { () -> (String, String) in
                let never = Notify()
                var innerFirst = ""
                try await withTimeout(.seconds(10)) {
                    do {
                        try await withTimeout(.milliseconds(10)) { try await never.notified() }
                    } catch let error as TimeoutError {
                        innerFirst = "inner timed out after \(error.duration)"
                    }
                }
                var outerFirst = ""
                do {
                    try await withTimeout(.milliseconds(10)) {
                        try await withTimeout(.seconds(10)) { try await sleep(for: .seconds(20)) }
                    }
                } catch let error as TimeoutError {
                    outerFirst = "outer timed out after \(error.duration)"
                }
                return (innerFirst, outerFirst)
            }.value
            #expect(innerFirst == "inner timed out after 0.01 seconds")
            #expect(outerFirst == "outer timed out after 0.01 seconds")
        }

        @Test("a blocked send stopped by a deadline hands its value back; nothing is enqueued")
        func deadlineOnSend() async throws {
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            let (handedBack, queued) = try await runtime.handle.spawn(on: .core(0)) { () -> (Int?, [Int]) in
                let (tx, rx) = MPSC.bounded(Int.self, capacity: 1)
                try await tx.send(1)
                var handedBack: Int?
                do {
                    try await withTimeout(.milliseconds(10)) { try await tx.send(2) }
                } catch let error as SendError<Int> {
                    handedBack = error.reason == .cancelled ? error.value : nil
                }
                tx.finish()
                var queued: [Int] = []
                for await value in rx { queued.append(value) }
                return (handedBack, queued)
            }.value
            #expect(handedBack == 2)
            #expect(queued == [1])
        }

        @Test("cancelled waits take nothing: broadcast keeps its position, oneshot and watch keep their news")
        func cancelledWaitsTakeNothing() async throws {
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            let results = try await runtime.handle.spawn(on: .core(0)) { () -> [String] in
                var results: [String] = []
                let broadcast = Broadcast.Sender<Int>(capacity: 4)
                let subscriber = broadcast.subscribe()
                do { _ = try await withTimeout(.milliseconds(5)) { try await subscriber.receive() } } catch {
                    results.append("broadcast \(type(of: error))")
                }
                broadcast.send(41)
                results.append("broadcast then \(try await subscriber.receive())")

                let (reply, response) = Oneshot.channel(Int.self)
                do { _ = try await withTimeout(.milliseconds(5)) { try await response.value } } catch { results.append("oneshot \(type(of: error))") }
                reply.send(42)
                results.append("oneshot then \(try await response.value)")

                let (config, watcher) = Watch.channel(0)
                do { try await withTimeout(.milliseconds(5)) { try await watcher.changed() } } catch { results.append("watch \(type(of: error))") }
                config.send(43)
                try await watcher.changed()
                results.append("watch then \(watcher.current)")
                return results
            }.value
            #expect(
                results == [
                    "broadcast TimeoutError", "broadcast then 41",
                    "oneshot TimeoutError", "oneshot then 42",
                    "watch TimeoutError", "watch then 43",
                ])
        }

        @Test("select: biased polls in order, otherwise runs when nothing is ready, send branches wait for room, a cancelled select takes nothing")
        func selectForms() async throws {
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            let results = try await runtime.handle.spawn(on: .core(0)) { () -> [String] in
                var results: [String] = []
                let (aTx, a) = MPSC.unbounded(Int.self)
                let (bTx, b) = MPSC.unbounded(Int.self)
                for value in 0..<3 {
                    try aTx.trySend(value)
                    try bTx.trySend(100 + value)
                }
                // biased: the first branch wins while it has values.
                for _ in 0..<3 {
                    let value: Int = try await select(
                        biased: true,
                        .receive(from: a) { $0 ?? -1 },
                        .receive(from: b) { $0 ?? -1 })
                    results.append("biased \(value)")
                }
                // otherwise: nothing ready on an empty channel.
                let (emptyTx, empty) = MPSC.unbounded(Int.self)
                let idle: String = try await select(.receive(from: empty) { _ in "value" }, otherwise: { "idle" })
                results.append(idle)
                emptyTx.finish()
                let closed: String = try await select(.receive(from: empty) { $0 == nil ? "closed" : "value" }, otherwise: { "idle" })
                results.append(closed)
                // send branch: a full channel makes it wait until the receiver takes one.
                let (fullTx, fullRx) = MPSC.bounded(Int.self, capacity: 1)
                try fullTx.trySend(1)
                spawn {
                    try await sleep(for: .milliseconds(5))
                    _ = try await fullRx.receive()
                }
                let sent: String = try await select(
                    .send(2, to: fullTx) { result in (try? result.get()) != nil ? "sent" : "closed" },
                    .sleep(for: .seconds(5)) { "timed out" })
                results.append(sent)
                // a cancelled select takes nothing.
                let (lateTx, late) = MPSC.unbounded(Int.self)
                let waiting = spawn { () -> String in
                    do { return "got \(try await select(.receive(from: late) { $0 ?? -1 }))" } catch { return "\(type(of: error))" }
                }
                try await sleep(for: .milliseconds(2))
                waiting.cancel()
                results.append(try await waiting.value)
                try lateTx.trySend(7)
                results.append("then \(try await late.receive() ?? -1)")
                return results
            }.value
            #expect(results == ["biased 0", "biased 1", "biased 2", "idle", "closed", "sent", "CancellationError", "then 7"])
        }

        @Test("BufferedReader keeps partial data when readUntil and readExactly are cancelled by a deadline")
        func readerKeepsPartialData() async throws {
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            let (records, exact) = try await runtime.handle.spawn(on: .core(0)) { () -> ([String], [UInt8]) in
                let listener = try TCPListener.bind("127.0.0.1:0")
                let address = try listener.localAddress
                spawn {
                    let peer = try await listener.accept()
                    for piece in ["ab", "c;de", "f;", "\u{1}\u{2}", "\u{3}\u{4}"] {
                        try await peer.writeAll(piece)
                        try await sleep(for: .milliseconds(15))
                    }
                    try await peer.close()
                }
                let reader = BufferedReader(try await TCPStream.connect(to: address))
                var records: [String] = []
                while records.count < 2 {
                    do {
                        if let record = try await withTimeout(.milliseconds(4), { try await reader.readUntil(UInt8(ascii: ";")) }) {
                            records.append(String(decoding: record, as: UTF8.self))
                        }
                    } catch is TimeoutError {}
                }
                while true {
                    do { return (records, try await withTimeout(.milliseconds(4)) { try await reader.readExactly(4) }) } catch is TimeoutError {}
                }
            }.value
            #expect(records == ["abc;", "def;"])
            #expect(exact == [1, 2, 3, 4])
        }
    }
}
