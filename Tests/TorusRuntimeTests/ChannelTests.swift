import Foundation
import Synchronization
import Testing
import TorusTestSupport

@testable import Torus

extension RuntimeSuite {
    @Suite("MPSC")
    struct MPSCTests {
        @Test("values arrive in order; iteration ends when every sender is gone")
        func orderAndEnd() async throws {
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            let received = try await runtime.handle.spawn(on: .core(0)) { () -> [Int] in
                let (tx, rx) = MPSC.bounded(Int.self, capacity: 4)
                spawn {
                    for value in 0..<100 { try await tx.send(value) }
                    tx.finish()
                }
                var all: [Int] = []
                for await value in rx { all.append(value) }
                return all
            }.value
            #expect(received == Array(0..<100))
        }

        @Test("a full bounded channel makes send wait (backpressure)")
        func backpressure() async throws {
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            let (steps, final) = try await runtime.handle.spawn(on: .core(0)) { () -> ([String], [Int]) in
                let (tx, rx) = MPSC.bounded(Int.self, capacity: 2)
                let log = CoreLocal<[String]>([])
                try await tx.send(1)
                try await tx.send(2)
                do throws(TrySendError<Int>) {
                    try tx.trySend(3)
                    log.value.append("trySend succeeded?")
                } catch .full(let value) {
                    log.value.append("full \(value)")
                } catch {
                    log.value.append("closed?")
                }
                let sender = spawn {
                    try await tx.send(3)
                    log.value.append("sent 3")
                }
                try await sleep(for: .milliseconds(5))
                log.value.append("queued \(rx.count)")
                let first = try await rx.receive()!
                try await sender.value
                var rest: [Int] = [first]
                while case .value(let value) = rx.tryReceive() { rest.append(value) }
                return (log.value, rest)
            }.value
            #expect(steps == ["full 3", "queued 2", "sent 3"])
            #expect(final == [1, 2, 3])
        }

        @Test("receiver gone: send fails and hands the value back")
        func receiverGone() async throws {
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            let outcome = try await runtime.handle.spawn { () -> String in
                let (tx, rx) = MPSC.unbounded(String.self)
                _ = consume rx
                do throws(SendError<String>) {
                    try await tx.send("hello")
                    return "sent"
                } catch {
                    return "\(error.reason) \(error.value)"
                }
            }.value
            #expect(outcome == "closed hello")
        }

        @Test("close lets the receiver drain, then ends; waiting senders get their value back")
        func close() async throws {
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            let (drained, blockedOutcome) = try await runtime.handle.spawn(on: .core(1)) { () -> ([Int], String) in
                let (tx, rx) = MPSC.bounded(Int.self, capacity: 1)
                try await tx.send(1)
                let blocked = spawn { () -> String in
                    do throws(SendError<Int>) {
                        try await tx.send(2)
                        return "sent"
                    } catch { return "\(error.reason) \(error.value)" }
                }
                try await sleep(for: .milliseconds(2))
                rx.close()
                var drained: [Int] = []
                while let value = try await rx.receive() { drained.append(value) }
                return (drained, try await blocked.value)
            }.value
            #expect(drained == [1])
            #expect(blockedOutcome == "closed 2")
        }

        @Test("a cancelled receive consumes nothing and throws CancellationError, unlike a closed channel")
        func cancelledReceive() async throws {
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            let (first, later, closed) = try await runtime.handle.spawn(on: .core(0)) { () -> (String, Int?, String) in
                let (tx, rx) = MPSC.unbounded(Int.self)
                let waiting = spawn { () -> String in
                    do { return "value \(String(describing: try await rx.receive()))" } catch { return "\(type(of: error))" }
                }
                try await sleep(for: .milliseconds(2))
                waiting.cancel()
                let first = try await waiting.value
                try await tx.send(7)
                let later = try await rx.receive()
                tx.finish()
                let closed = "\(String(describing: try await rx.receive()))"
                return (first, later, closed)
            }.value
            #expect(first == "CancellationError")
            #expect(later == 7)
            #expect(closed == "nil")
        }

        @Test("a cancelled send waiting for room throws with the value and enqueues nothing")
        func cancelledSend() async throws {
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            let (outcome, queued) = try await runtime.handle.spawn(on: .core(0)) { () -> (String, [Int]) in
                let (tx, rx) = MPSC.bounded(Int.self, capacity: 1)
                try await tx.send(1)
                let blocked = spawn { () -> String in
                    do throws(SendError<Int>) {
                        try await tx.send(2)
                        return "sent"
                    } catch { return "\(error.reason) \(error.value)" }
                }
                try await sleep(for: .milliseconds(2))
                blocked.cancel()
                let outcome = try await blocked.value
                var queued: [Int] = []
                while case .value(let value) = rx.tryReceive() { queued.append(value) }
                return (outcome, queued)
            }.value
            #expect(outcome == "cancelled 2")
            #expect(queued == [1])
        }

        @Test("cross-core stress: 4 producers on two cores, every value exactly once, per-producer order kept")
        func crossCoreStress() async throws {
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            let perProducer = 20_000
            let result = try await runtime.handle.spawn(on: .core(0)) { () -> (Int, Int) in
                let (tx, rx) = MPSC.bounded(Int.self, capacity: 64)
                for producer in 0..<4 {
                    let mine = tx.clone()
                    spawn(on: .core(producer % 2)) {
                        for sequence in 0..<perProducer { try await mine.send(producer * 1_000_000 + sequence) }
                    }
                }
                tx.finish()
                var next = [0, 0, 0, 0]
                var received = 0
                var outOfOrder = 0
                for await value in rx {
                    let producer = value / 1_000_000
                    if value % 1_000_000 != next[producer] { outOfOrder += 1 }
                    next[producer] = value % 1_000_000 + 1
                    received += 1
                }
                return (received, outOfOrder)
            }.value
            #expect(result.0 == 4 * perProducer)
            #expect(result.1 == 0)
        }

        @Test("plain threads use blocking send and receive (the TaskSpawner pattern)")
        func blockingEnds() async throws {
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            // Thread -> runtime.
            let (toRuntime, inbox) = MPSC.bounded(Int.self, capacity: 2)
            let total = runtime.handle.spawn { () -> Int in
                var sum = 0
                for await value in inbox { sum += value }
                return sum
            }
            let producerDone = DispatchSemaphore(value: 0)
            Thread {
                for value in 1...100 { try? toRuntime.blockingSend(value) }
                producerDone.signal()
            }.start()
            producerDone.wait()
            toRuntime.finish()
            #expect(try await total.value == 5050)

            // Runtime -> thread.
            let (toThread, threadInbox) = MPSC.bounded(Int.self, capacity: 1)
            let got = Mutex<[Int]>([])
            let consumerDone = DispatchSemaphore(value: 0)
            Thread {
                while let value = threadInbox.blockingReceive() { got.withLock { $0.append(value) } }
                consumerDone.signal()
            }.start()
            try await runtime.handle.spawn {
                for value in 0..<10 { try await toThread.send(value) }
                toThread.finish()
            }.value
            consumerDone.wait()
            #expect(got.withLock { $0 } == Array(0..<10))
        }
    }

    @Suite("Oneshot, broadcast, watch")
    struct OtherChannels {
        @Test("oneshot: value, sender dropped, cancellation")
        func oneshot() async throws {
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            let results = try await runtime.handle.spawn { () -> [String] in
                var results: [String] = []
                let (tx, rx) = Oneshot.channel(Int.self)
                spawn(on: .core(1)) { tx.send(42) }
                results.append("\(try await rx.value)")

                // The sender lives only in the task that drops it (a local binding would keep it
                // alive to the end of this scope).
                let orphan: Oneshot.Receiver<Int> = {
                    let (dropped, orphan) = Oneshot.channel(Int.self)
                    spawn(on: .core(1)) { _ = dropped }
                    return orphan
                }()
                do { _ = try await orphan.value } catch { results.append("\(error)") }

                let (silent, waiting) = Oneshot.channel(Int.self)
                let waiter = spawn { try await waiting.value }
                try await sleep(for: .milliseconds(2))
                waiter.cancel()
                do { _ = try await waiter.value } catch is CancellationError { results.append("cancelled") }
                withExtendedLifetime(silent) {}
                return results
            }.value
            #expect(results == ["42", "senderDropped", "cancelled"])
        }

        @Test("manager task: commands carry oneshot responders (the seed's example)")
        func managerTask() async throws {
            enum Command: Sendable {
                case get(String, Oneshot.Sender<String?>)
                case set(String, String, Oneshot.Sender<Void>)
            }
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            let answers = try await runtime.handle.spawn(on: .core(0)) { () -> [String?] in
                let (commands, inbox) = MPSC.bounded(Command.self, capacity: 32)
                spawn(on: .core(1)) {
                    var store: [String: String] = [:]
                    for await command in inbox {
                        switch command {
                        case .get(let key, let reply): reply.send(store[key])
                        case .set(let key, let value, let reply):
                            store[key] = value
                            reply.send(())
                        }
                    }
                }
                let (setDone, setReply) = Oneshot.channel(Void.self)
                try await commands.send(.set("hello", "world", setDone))
                try await setReply.value
                var answers: [String?] = []
                for key in ["hello", "missing"] {
                    let (reply, response) = Oneshot.channel(String?.self)
                    try await commands.send(.get(key, reply))
                    answers.append(try await response.value)
                }
                return answers
            }.value
            #expect(answers == ["world", nil])
        }

        @Test("broadcast: every receiver sees every value; a slow one is told it lagged and continues")
        func broadcast() async throws {
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            let (fast, slow) = try await runtime.handle.spawn { () -> ([Int], [String]) in
                let sender = Broadcast.Sender<Int>(capacity: 4)
                let fastReceiver = sender.subscribe()
                let slowReceiver = sender.subscribe()
                // The fast receiver acknowledges every value, so it never falls behind however
                // loaded the machine is; the slow one reads nothing until the end.
                let (acks, acknowledged) = MPSC.unbounded(Int.self)
                let fastTask = spawn(on: .core(1)) { () -> [Int] in
                    var seen: [Int] = []
                    for await message in fastReceiver.messages {
                        if case .value(let value) = message {
                            seen.append(value)
                            try await acks.send(value)
                        }
                    }
                    return seen
                }
                for value in 0..<10 {
                    sender.send(value)
                    _ = try await acknowledged.receive()
                }
                var slowLog: [String] = []
                while true {
                    do throws(BroadcastError) {
                        slowLog.append("\(try await slowReceiver.receive())")
                    } catch .lagged(let missed) {
                        slowLog.append("lagged \(missed)")
                    } catch {
                        break
                    }
                    if slowLog.count == 5 { sender.close() }
                }
                return (try await fastTask.value, slowLog)
            }.value
            #expect(fast == Array(0..<10))
            #expect(slow == ["lagged 6", "6", "7", "8", "9"])
        }

        @Test("watch: latest value, changed() waits, ends when the sender goes")
        func watch() async throws {
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            let log = try await runtime.handle.spawn { () -> [String] in
                let (tx, rx) = Watch.channel("v0")
                var log = [rx.current]
                let watcher = spawn(on: .core(1)) { () -> [String] in
                    var seen: [String] = []
                    do {
                        while true {
                            try await rx.changed()
                            seen.append(rx.current)
                        }
                    } catch {
                        seen.append("\(error)")
                    }
                    return seen
                }
                try await sleep(for: .milliseconds(2))
                tx.send("v1")
                try await sleep(for: .milliseconds(2))
                tx.send("v2")
                tx.send("v3")
                try await sleep(for: .milliseconds(2))
                _ = consume tx
                log += try await watcher.value
                return log
            }.value
            #expect(log == ["v0", "v1", "v3", "closed"])
        }

        @Test("cancelling a waiting broadcast or watch receiver leaves the channel usable")
        func cancelWaitingReceivers() async throws {
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            let log = try await runtime.handle.spawn { () -> [String] in
                var log: [String] = []
                let sender = Broadcast.Sender<Int>(capacity: 2)
                let receiver = sender.subscribe()
                let waiting = spawn { () -> String in
                    do throws(BroadcastError) { return "\(try await receiver.receive())" } catch { return "\(error)" }
                }
                try await sleep(for: .milliseconds(2))
                waiting.cancel()
                log.append(try await waiting.value)
                sender.send(5)
                log.append("\(try await receiver.receive())")

                let (tx, rx) = Watch.channel(0)
                let watcher = spawn { () -> String in
                    do {
                        try await rx.changed()
                        return "changed"
                    } catch { return "\(type(of: error))" }
                }
                try await sleep(for: .milliseconds(2))
                watcher.cancel()
                log.append(try await watcher.value)
                tx.send(1)
                try await rx.changed()
                log.append("now \(rx.current)")
                return log
            }.value
            #expect(log == ["cancelled", "5", "CancellationError", "now 1"])
        }
    }
}
