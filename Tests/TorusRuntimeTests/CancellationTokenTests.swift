import Foundation
import Synchronization
import Testing
import TorusTestSupport

@testable import Torus

extension RuntimeSuite {
    @Suite("Cancellation tokens")
    struct CancellationTokenTests {
        @Test("cancelling a token from another core stops a socket read in the kernel; the task and the stream go on")
        func tokenStopsRingOperation() async throws {
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            let (outcome, taskCancelled, inFlight, later) = try await runtime.handle.spawn(on: .core(0)) { () -> (String, Bool, Int, String?) in
                let (address, go) = try peerWritingOnSignal("after\n")
                let reader = BufferedReader(try await TCPStream.connect(to: address))
                let token = CancellationToken()
                spawn(on: .core(1)) {
                    try await sleep(for: .milliseconds(20))
                    token.cancel()
                }
                let line = try await token.run { try await reader.readLine() }
                let outcome = line == nil ? "stopped by the token" : "read \(String(describing: line))"
                let inFlight = Core.current!.driver.operations.inFlight
                go.send(())
                return (outcome, Task.isCancelled, inFlight, try await reader.readLine())
            }.value
            #expect(outcome == "stopped by the token")
            #expect(!taskCancelled)
            #expect(inFlight == 0)
            #expect(later == "after")
        }

        @Test("one cancel stops many tasks on both cores, in sleeps, receives and selects; nothing is taken")
        func oneCancelManyTasks() async throws {
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            let (stopped, leftInChannel, took) = try await runtime.handle.spawn(on: .core(0)) { () -> (Int, Int, Duration) in
                let token = CancellationToken()
                let (tx, rx) = MPSC.unbounded(Int.self)
                var handles: [JoinHandle<Bool>] = []
                for index in 0..<10 {
                    let child = index % 3 == 0 ? token.child() : token
                    handles.append(
                        spawn(on: index % 2 == 0 ? .core(0) : .core(1)) {
                            switch index % 3 {
                            case 0: return try await child.run { try await sleep(for: .seconds(10)) } == nil
                            case 1: return try await child.run { try await Notify().notified() } == nil
                            default:
                                return try await child.run {
                                    try await select(.sleep(for: .seconds(10)) { () }, .cancelled(CancellationToken()) { () })
                                } == nil
                            }
                        })
                }
                let receiver = spawn { try await token.run { try await rx.receive() } }
                try await sleep(for: .milliseconds(10))
                let start = ContinuousClock.now
                token.cancel()
                var stopped = 0
                for handle in handles where try await handle.value { stopped += 1 }
                let received = try await receiver.value
                try tx.trySend(5)
                return (stopped + (received == nil ? 1 : 0), rx.count, ContinuousClock.now - start)
            }.value
            #expect(stopped == 11)
            #expect(leftInChannel == 1, "the stopped receive took nothing")
            #expect(took < .seconds(2))
        }

        @Test("child tokens follow their parent, not the other way; cancelled() and the select branch see it")
        func childTokens() async throws {
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            let results = try await runtime.handle.spawn(on: .core(0)) { () -> [String] in
                var results: [String] = []
                let parent = CancellationToken()
                let alone = parent.child()
                alone.cancel()
                results.append("child alone: parent \(parent.isCancelled)")
                let child = parent.child()
                let waiter = spawn {
                    try await child.cancelled()
                    return "child saw it"
                }
                let selecting = spawn { () -> String in
                    try await select(.cancelled(child) { "select saw it" }, .sleep(for: .seconds(10)) { "timed out" })
                }
                try await sleep(for: .milliseconds(5))
                parent.cancel()
                results.append(try await waiter.value)
                results.append(try await selecting.value)
                results.append("child \(child.isCancelled), late child \(parent.child().isCancelled)")
                results.append("run on a cancelled token: \(String(describing: try await parent.run { 1 }))")
                // Children dropped before their parent is cancelled are freed, not kept by it.
                let longLived = CancellationToken()
                weak var dropped: CancellationToken?
                do {
                    let child = longLived.child()
                    dropped = child
                }
                results.append("dropped child freed: \(dropped == nil)")
                return results
            }.value
            #expect(
                results == [
                    "child alone: parent false", "child saw it", "select saw it",
                    "child true, late child true", "run on a cancelled token: nil",
                    "dropped child freed: true",
                ])
        }

        @Test("tokens and deadlines nest: whichever comes first stops the wait and reports itself")
        func tokensAndDeadlinesNest() async throws {
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            let (deadlineFirst, tokenFirst) = try await runtime.handle.spawn(on: .core(0)) { () -> (String, String) in
                let token = CancellationToken()
                var deadlineFirst = ""
                _ = try await token.run {
                    do {
                        try await withTimeout(.milliseconds(10)) { try await sleep(for: .seconds(10)) }
                    } catch {
                        deadlineFirst = "\(type(of: error))"
                    }
                }
                let other = CancellationToken()
                spawn {
                    try await sleep(for: .milliseconds(10))
                    other.cancel()
                }
                let tokenFirst = try await withTimeout(.seconds(10)) {
                    try await other.run { try await Notify().notified() } == nil ? "token" : "notified"
                }
                return (deadlineFirst, tokenFirst)
            }.value
            #expect(deadlineFirst == "TimeoutError")
            #expect(tokenFirst == "token")
        }
    }
}
