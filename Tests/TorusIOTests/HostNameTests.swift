import Foundation
import MiniRedis
import Testing
import TorusTestSupport

@testable import Torus

/// A test's set-up could not be made (not a failure of the code under test).
struct SetupFailure: Error, CustomStringConvertible {
    var description: String
}

/// A listener on `address` whose accept queue is full: the kernel drops new SYNs, so a connect
/// to it hangs (in SYN retries) until cancelled, as to an address that blackholes packets.
/// The parked connections keep the queue full; close them and the listener afterwards.
func blackhole(_ address: SocketAddress) async throws -> (listener: TCPListener, parked: [TCPStream]) {
    let listener = try TCPListener.bind(address, backlog: 0)
    let bound = try listener.localAddress
    var parked: [TCPStream] = []
    for _ in 0..<16 {
        do {
            parked.append(try await TCPStream.connect(to: bound, timeout: .milliseconds(100)))
        } catch is TimeoutError {
            return (listener, parked)
        }
    }
    throw SetupFailure(description: "the accept queue of \(bound) did not fill up after 16 connections")
}

func closeBlackhole(_ blackhole: (listener: TCPListener, parked: [TCPStream])) async throws {
    for stream in blackhole.parked { try await stream.close() }
    try await blackhole.listener.close()
}

extension RuntimeSuite {
    @Suite("Host names")
    struct HostNames {
        @Test("localhost and IP literals resolve; localhost:PORT and [::1]:PORT connect")
        func resolveAndConnect() async throws {
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            try await runtime.handle.spawn(on: .core(0)) {
                let resolved = try await SocketAddress.resolve(host: "localhost", port: 80)
                #expect(resolved.contains(try SocketAddress("127.0.0.1:80")), "\(resolved)")
                #expect(resolved.allSatisfy { $0.host == "127.0.0.1" || $0.host == "::1" }, "\(resolved)")
                #expect(try await SocketAddress.resolve("localhost:6379").contains(try SocketAddress("127.0.0.1:6379")))
                #expect(try await SocketAddress.resolve(host: "::1", port: 7) == [try SocketAddress("[::1]:7")])
                #expect(try await SocketAddress.resolve("[::1]:7") == [try SocketAddress("[::1]:7")])
                #expect(try await SocketAddress.resolve("127.0.0.1:7") == [.loopback(port: 7)])

                let v4 = try TCPListener.bind(.loopback(port: 0))
                let port = try v4.localAddress.port!
                let v6 = try TCPListener.bind(SocketAddress("[::1]:\(port)"))
                for (text, peer) in [
                    ("localhost:\(port)", "127.0.0.1:\(port)"), ("[::1]:\(port)", "[::1]:\(port)"),
                    ("127.0.0.1:\(port)", "127.0.0.1:\(port)"),
                ] {
                    let stream = try await TCPStream.connect(to: text, timeout: .seconds(5))
                    #expect(try stream.peerAddress.description == peer, "\(text)")
                    try await stream.close()
                }
                let byName = try await TCPStream.connect(host: "localhost", port: port)
                #expect(try byName.peerAddress == .loopback(port: port))
                try await byName.close()
                try await v4.close()
                try await v6.close()
            }.value
        }

        @Test("MiniRedis's client connects to localhost:PORT and names the address that answered")
        func miniRedisByName() async throws {
            let server = try miniRedisProcess()
            let port = server.port
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            let (pong, address) = try await runtime.handle.spawn(on: .core(0)) { () -> (String, SocketAddress) in
                let client = try await Client.connect(to: "localhost:\(port)")
                let pong = String(decoding: try await client.ping(), as: UTF8.self)
                try await client.close()
                return (pong, client.address)
            }.value
            #expect(pong == "PONG")
            #expect(address == .loopback(port: port))
            #expect(server.terminate().0 == miniRedisStatusAfterSIGTERM)
        }

        @Test("an unknown host is a HostResolutionError naming it, with getaddrinfo's reason")
        func unknownHost() async throws {
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            // `.invalid` never resolves (RFC 6761): NXDOMAIN from a name server, or a failure at
            // once where there is none. Nothing is assumed of the network beyond that.
            let error = try await runtime.handle.spawn(on: .core(0)) { () -> HostResolutionError? in
                do {
                    _ = try await TCPStream.connect(to: "nosuch.invalid:80", timeout: .seconds(30))
                    return nil
                } catch let error as HostResolutionError {
                    return error
                }
            }.value
            let failure = try #require(error)
            #expect(failure.host == "nosuch.invalid")
            #expect([.unknownHost, .noAddress, .temporaryFailure, .permanentFailure].contains(failure.code), "\(failure)")
            #expect(!failure.reason.isEmpty)
            #expect(failure.description.hasPrefix("getaddrinfo \"nosuch.invalid\": \(failure.reason) (EAI_"), "\(failure)")
        }

        @Test(
            "empty, overlong and malformed names are refused without a look-up, naming the problem",
            arguments: [
                ("", "empty"),
                (String(repeating: "a.", count: 126) + "ab", "254 bytes long; DNS allows at most 253"),
                (String(repeating: "x", count: 64) + ".example", "label of the host name is 64 bytes long"),
                ("a..example", "empty label"),
                (".example", "empty label"),
                ("bad\0name", "NUL byte"),
                ("1.2.3", "not an IPv4 address"),
                ("999.1.1.1", "not an IPv4 address"),
            ])
        func invalidNames(name: String, reason: String) async throws {
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            let error = try await runtime.handle.spawn(on: .core(0)) { () -> HostResolutionError? in
                do {
                    _ = try await TCPStream.connect(host: name, port: 80)
                    return nil
                } catch let error as HostResolutionError {
                    return error
                }
            }.value
            let failure = try #require(error)
            #expect(failure.code == .invalidName)
            #expect(failure.host == name)
            #expect(failure.description.contains(reason), "\(failure)")
            // A name at DNS's limits is not refused as such (it is looked up, and not found).
            #expect(throws: Never.self) { try HostName.validate(String(repeating: "a.", count: 126) + "b") }
            #expect(throws: Never.self) { try HostName.validate(String(repeating: "a.", count: 126) + "b.") }
            #expect(throws: Never.self) { try HostName.validate(String(repeating: "x", count: 63) + ".example.") }
        }

        @Test(
            "HOST:PORT text: no port, a port out of range, an empty host are SocketAddressErrors quoting it",
            arguments: ["localhost", "localhost:70000", "localhost:-1", "localhost:+80", "localhost:", ":80", "[]:80", "::1:80", "[::1]80", "[::1"])
        func malformedText(text: String) async throws {
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            let error = try await runtime.handle.spawn(on: .core(0)) { () -> SocketAddressError? in
                do {
                    _ = try await TCPStream.connect(to: text)
                    return nil
                } catch let error as SocketAddressError {
                    return error
                }
            }.value
            let failure = try #require(error)
            #expect(failure.input == text)
            #expect(failure.description.contains("\"\(text)\""))
        }

        @Test("a cancelled look-up returns at once; the look-up still waiting for a pool thread is dropped")
        func cancelledLookUp() async throws {
            // One blocking thread, kept busy: the look-up queues behind the sleeper, as it would
            // behind a name server that does not answer.
            let runtime = try makeRuntime(maxBlockingThreads: 1)
            defer { runtime.shutdown() }
            let (outcome, took) = try await runtime.handle.spawn(on: .core(0)) { () -> (String, Duration) in
                let busy = spawn { try await spawnBlocking { usleep(1_000_000) } }
                try await sleep(for: .milliseconds(20))
                let start = ContinuousClock.now
                let resolving = spawn { try await SocketAddress.resolve(host: "localhost", port: 1) }
                try await sleep(for: .milliseconds(50))
                resolving.cancel()
                var outcome = "resolved"
                do { _ = try await resolving.value } catch is CancellationError { outcome = "cancelled" }
                let took = ContinuousClock.now - start
                var timedOut = "resolved"
                do {
                    _ = try await withTimeout(.milliseconds(50)) { try await SocketAddress.resolve(host: "localhost", port: 1) }
                } catch is TimeoutError {
                    timedOut = "timed out"
                }
                _ = try await busy.value
                // The pool is free again: the same look-up now completes.
                let resolved = try await SocketAddress.resolve(host: "localhost", port: 1)
                return ("\(outcome), \(timedOut), \(resolved.contains(.loopback(port: 1)))", took)
            }.value
            #expect(outcome == "cancelled, timed out, true")
            #expect(took < .milliseconds(500), "the cancelled look-up returned after \(took)")
        }

        @Test("a name whose address refuses: ConnectError naming the host and the address, ECONNREFUSED")
        func refused() async throws {
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            let port = try unusedPort()
            let error = try await runtime.handle.spawn(on: .core(0)) { () -> ConnectError? in
                do {
                    _ = try await TCPStream.connect(to: "localhost:\(port)")
                    return nil
                } catch let error as ConnectError {
                    return error
                }
            }.value
            let failure = try #require(error)
            #expect(failure.host == "localhost")
            #expect(failure.isConnectionRefused)
            #expect(failure.attempts.contains { $0.address == .loopback(port: port) && $0.errno == .connectionRefused })
            #expect(failure.description.contains("connect \"localhost\": "), "\(failure)")
            #expect(failure.description.contains("127.0.0.1:\(port): Connection refused (ECONNREFUSED)"), "\(failure)")
        }

        @Test("addresses are raced IPv6 first, families interleaved, duplicates once")
        func order() throws {
            let a6 = try SocketAddress("[::1]:1")
            let b6 = try SocketAddress("[::2]:1")
            let a4 = try SocketAddress("127.0.0.1:1")
            let b4 = try SocketAddress("127.0.0.2:1")
            let c4 = try SocketAddress("127.0.0.3:1")
            #expect(HappyEyeballs.order([a4, b4, c4, a6, b6, a4]) == [a6, a4, b6, b4, c4])
            #expect(HappyEyeballs.order([a4, b4]) == [a4, b4])
            #expect(HappyEyeballs.order([]) == [])
        }

        @Test("Happy Eyeballs: a blackholed IPv6 address, a working IPv4 one: connected via the second after 250 ms, nothing leaked")
        func blackholeThenWorking() async throws {
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            let before = openFileAndSocketDescriptors()
            let (took, peer, working) = try await runtime.handle.spawn(on: .core(0)) { () -> (Duration, SocketAddress, SocketAddress) in
                let hole = try await blackhole(SocketAddress("[::1]:0"))
                let listener = try TCPListener.bind(.loopback(port: 0))
                let working = try listener.localAddress
                let start = ContinuousClock.now
                // Listed IPv4 first: the IPv6 address is still tried first.
                let stream = try await TCPStream.connect(to: [working, try hole.listener.localAddress], timeout: .seconds(5))
                let took = ContinuousClock.now - start
                let peer = try stream.peerAddress
                try await stream.close()
                try await listener.close()
                try await closeBlackhole(hole)
                return (took, peer, working)
            }.value
            #expect(peer == working)
            #expect(took >= .milliseconds(240), "connected in \(took): the blackholed address was not tried first")
            #expect(took < .milliseconds(1000), "connected in \(took)")
            try await eventually { openFileAndSocketDescriptors() <= before }
        }

        @Test("Happy Eyeballs: a refusing address moves on to the next at once; all refusing is one ConnectError")
        func failuresMoveOn() async throws {
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            let before = openFileAndSocketDescriptors()
            let refusedPort = try unusedPort()
            let (took, peer, working, allFailed) = try await runtime.handle.spawn(on: .core(0)) {
                () -> (Duration, SocketAddress, SocketAddress, ConnectError?) in
                let listener = try TCPListener.bind(.loopback(port: 0))
                let working = try listener.localAddress
                let start = ContinuousClock.now
                let stream = try await TCPStream.connect(to: [working, try SocketAddress("[::1]:\(refusedPort)")])
                let took = ContinuousClock.now - start
                let peer = try stream.peerAddress
                try await stream.close()
                try await listener.close()
                var allFailed: ConnectError?
                do {
                    _ = try await TCPStream.connect(to: [.loopback(port: refusedPort), try SocketAddress("[::1]:\(refusedPort)")])
                } catch let error as ConnectError {
                    allFailed = error
                }
                do {
                    _ = try await TCPStream.connect(to: [SocketAddress]())
                } catch let error as ConnectError where error.attempts.isEmpty {}
                return (took, peer, working, allFailed)
            }.value
            #expect(peer == working)
            #expect(took < .milliseconds(200), "a refused first address delayed the second by \(took)")
            let failure = try #require(allFailed)
            #expect(failure.host == nil)
            #expect(failure.attempts.map(\.address) == [try SocketAddress("[::1]:\(refusedPort)"), .loopback(port: refusedPort)])
            #expect(failure.isConnectionRefused)
            #expect(
                failure.description
                    == "connect: [::1]:\(refusedPort): Connection refused (ECONNREFUSED); 127.0.0.1:\(refusedPort): Connection refused (ECONNREFUSED)"
            )
            try await eventually { openFileAndSocketDescriptors() <= before }
        }

        @Test("a cancelled or timed-out connect by name or over several blackholed addresses leaves no descriptor open")
        func cancelledConnect() async throws {
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            let before = openFileAndSocketDescriptors()
            let outcomes = try await runtime.handle.spawn(on: .core(0)) { () -> [String] in
                var outcomes: [String] = []
                let hole4 = try await blackhole(.loopback(port: 0))
                let hole6 = try await blackhole(SocketAddress("[::1]:0"))
                let port4 = try hole4.listener.localAddress.port!
                let both = [try hole4.listener.localAddress, try hole6.listener.localAddress]
                let during = openFileAndSocketDescriptors()

                // Cancelled with both attempts in flight (after the 250 ms delay).
                let racing = spawn { try await TCPStream.connect(to: both) }
                try await sleep(for: .milliseconds(400))
                racing.cancel()
                do { _ = try await racing.value } catch is CancellationError { outcomes.append("cancelled") }
                outcomes.append("open after cancel: \(openFileAndSocketDescriptors() - during)")

                // By name, cancelled while its one address hangs.
                let byName = spawn { try await TCPStream.connect(to: "localhost:\(port4)") }
                try await sleep(for: .milliseconds(100))
                byName.cancel()
                do { _ = try await byName.value } catch is CancellationError { outcomes.append("cancelled") }
                outcomes.append("open after cancel: \(openFileAndSocketDescriptors() - during)")

                // Timed out, by name and over the list.
                do { _ = try await TCPStream.connect(host: "localhost", port: port4, timeout: .milliseconds(300)) } catch is TimeoutError {
                    outcomes.append("timeout")
                }
                do { _ = try await TCPStream.connect(to: both, timeout: .milliseconds(300)) } catch is TimeoutError { outcomes.append("timeout") }
                outcomes.append("open after timeouts: \(openFileAndSocketDescriptors() - during)")
                try await closeBlackhole(hole4)
                try await closeBlackhole(hole6)
                return outcomes
            }.value
            #expect(
                outcomes == [
                    "cancelled", "open after cancel: 0", "cancelled", "open after cancel: 0", "timeout", "timeout", "open after timeouts: 0",
                ])
            try await eventually { openFileAndSocketDescriptors() <= before }
        }
    }
}
