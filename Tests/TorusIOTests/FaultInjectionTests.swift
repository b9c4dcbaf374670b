import Foundation
import Glibc
import Testing
import TorusTestSupport

@testable import Torus

// Faults injected through `FaultInjection` (the test hook of the system-call layer): every
// error and short-transfer path of files, sockets, the accept loop, torus-cp and mini-redis must
// end in the right result or a clear typed error: no crash, no hang, no leaked descriptor, no
// corrupted destination. Rules name a subject (a path or port) so they cannot hit other work.

/// A file of `count` pseudo-random bytes in a fresh directory: (directory, path, bytes).
private func sampleFile(_ count: Int, seed: UInt64 = 7) throws -> (String, String, [UInt8]) {
    let directory = try makeTemporaryDirectory()
    let path = directory + "/source"
    let bytes = pseudoRandomBytes(count, seed: seed)
    try Data(bytes).write(to: URL(fileURLWithPath: path))
    return (directory, path, bytes)
}

/// The error a body threw, described (or "returned").
private func failure(_ body: () async throws -> Void) async -> String {
    do {
        try await body()
        return "returned"
    } catch {
        return "\(error)"
    }
}

extension RuntimeSuite {
    @Suite("Fault injection")
    struct FaultInjectionTests {
        // MARK: Files

        @Test("writeAll and readExactly end with the right bytes whatever call comes back short, and wherever")
        func shortFileTransfersAtEveryPosition() async throws {
            let (directory, _, bytes) = try sampleFile(10_000)
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            for (index, rule) in [
                FaultRule("write", subject: directory, .short(1)),
                FaultRule("write", subject: directory, .short(777), skip: 1),
                FaultRule("write", subject: directory, .short(4095), skip: 2, times: .max),
                FaultRule("write", subject: directory, .short(1), times: .max),
            ].enumerated() {
                let path = directory + "/written-\(index)"
                let back = try await runtime.handle.spawn(on: .core(0)) { () -> [UInt8] in
                    try await FaultInjection.with([rule, FaultRule("read", subject: path, .short(333), skip: index, times: .max)]) {
                        let file = try await File.create(FilePath(path))
                        try await file.writeAll(bytes)
                        try await file.close()
                        let reader = try await File.open(FilePath(path))
                        defer { Task { try? await reader.close() } }
                        return try await reader.readExactly(bytes.count)
                    }
                }.value
                #expect(back == bytes, "rule \(rule)")
            }
        }

        @Test("EINTR and EAGAIN from the kernel are retried, on the ring and inline")
        func interruptionsAreRetried() async throws {
            let (directory, path, bytes) = try sampleFile(5000)
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            let before = FaultInjection.injectedCount
            let back = try await runtime.handle.spawn(on: .core(0)) { () -> [UInt8] in
                try await FaultInjection.with([
                    FaultRule("open", subject: path, .fail(.interrupted)),
                    FaultRule("read", subject: path, .fail(.resourceTemporarilyUnavailable), times: 3),
                    FaultRule("write", subject: directory, .fail(.interrupted), times: 2),
                ]) {
                    let copy = try await File.open(FilePath(directory + "/copy"), options: [.write, .create], via: .inline)
                    _ = try await copy.write(IOBuffer(bytes), at: 0, via: .inline)
                    try await copy.close()
                    let file = try await File.open(FilePath(path))
                    let result = try await file.readToEnd()
                    try await file.close()
                    return result
                }
            }.value
            #expect(back == bytes)
            #expect(FaultInjection.injectedCount - before == 6, "every rule hit")
            #expect(try Data(contentsOf: URL(fileURLWithPath: directory + "/copy")) == Data(bytes))
        }

        @Test("ENOSPC, EIO, EDQUOT, ECANCELED and EMFILE become IOErrors naming the operation and the path; nothing leaks")
        func fileErrorsAreTyped() async throws {
            let (directory, path, _) = try sampleFile(100)
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let descriptors = openFileAndSocketDescriptors()
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            let messages = try await runtime.handle.spawn(on: .core(0)) { () -> [String] in
                var messages: [String] = []
                let target = directory + "/target"
                for (operation, errno) in [
                    ("write", Errno.noSpace), ("write", .ioError), ("write", .diskQuotaExceeded),
                    ("fsync", .ioError), ("read", .canceled), ("statx", .ioError),
                ] {
                    let file = try await File.open(FilePath(target), options: [.read, .write, .create])
                    messages.append(
                        // ECANCELED nobody asked for is first taken for a duplicate's close and
                        // submitted again (a bounded number of times): inject it every time.
                        await FaultInjection.with([FaultRule(operation, subject: target, .fail(errno), times: errno == .canceled ? .max : 1)]) {
                            await failure {
                                switch operation {
                                case "write": _ = try await file.write(IOBuffer([1, 2, 3]), at: 0)
                                case "fsync": try await file.sync()
                                case "read": _ = try await file.read(into: IOBuffer(capacity: 8), at: 0)
                                default: _ = try await file.metadata()
                                }
                            }
                        })
                    try await file.close()
                }
                messages.append(
                    await FaultInjection.with([FaultRule("open", subject: path, .fail(.tooManyOpenFiles))]) {
                        await failure { _ = try await File.open(FilePath(path)) }
                    })
                return messages
            }.value
            #expect(messages.count == 7)
            for (message, expected) in zip(messages, ["write", "write", "write", "fsync", "read", "statx", "open"]) {
                #expect(message.hasPrefix("\(expected) \""), "\(message)")
                #expect(message.contains(directory), "\(message)")
            }
            #expect(messages[0].contains("ENOSPC") && messages[1].contains("EIO") && messages[2].contains("EDQUOT"))
            #expect(messages[4].contains("ECANCELED"), "a kernel ECANCELED in a task nobody cancelled is an error, not a cancellation")
            #expect(messages[6].contains("EMFILE"))
            #expect(openFileAndSocketDescriptors() == descriptors)
        }

        @Test("a close that fails (EIO, EINTR) has still closed the descriptor: EIO is reported, EINTR is not, nothing leaks or is closed twice")
        func failedCloseStillCloses() async throws {
            let (directory, path, _) = try sampleFile(10)
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let descriptors = openFileAndSocketDescriptors()
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            let outcomes = try await runtime.handle.spawn(on: .core(0)) { () -> [String] in
                var outcomes: [String] = []
                for errno in [Errno.ioError, .interrupted] {
                    let file = try await File.open(FilePath(path))
                    let number = file.descriptor.rawValue
                    outcomes.append(
                        await FaultInjection.with([FaultRule("close", subject: path, .fail(errno))]) {
                            await failure { try await file.close() }
                        })
                    // Closed for real: the number is free (and the next open may reuse it).
                    outcomes.append(fcntl(number, F_GETFD) < 0 ? "closed" : "open")
                }
                return outcomes
            }.value
            #expect(outcomes.count == 4)
            #expect(outcomes[0].hasPrefix("close \"") && outcomes[0].contains("EIO"), "\(outcomes)")
            #expect(outcomes[1] == "closed" && outcomes[2] == "returned" && outcomes[3] == "closed", "\(outcomes)")
            #expect(openFileAndSocketDescriptors() == descriptors)
        }

        // MARK: Sockets

        @Test("a TCP stream moves every byte in order when each send and each receive is cut short")
        func shortSocketTransfers() async throws {
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            let bytes = pseudoRandomBytes(200_000, seed: 3)
            let received = try await runtime.handle.spawn(on: .core(0)) { () -> [UInt8] in
                let listener = try TCPListener.bind(.loopback(port: 0))
                let address = try listener.localAddress
                let subject = ":\(address.port!)"
                return try await FaultInjection.with([
                    FaultRule("send", subject: subject, .short(1000), times: .max),
                    FaultRule("recv", subject: subject, .short(7), times: .max),
                ]) {
                    let accepting = spawn { try await listener.accept() }
                    let client = try await TCPStream.connect(to: address)
                    let server = try await accepting.value
                    let sending = spawn {
                        try await client.writeAll(bytes)
                        try await client.shutdown(.write)
                    }
                    let result = try await server.readToEnd()
                    try await sending.value
                    try await client.close()
                    try await server.close()
                    try await listener.close()
                    return result
                }
            }.value
            #expect(received == bytes)
        }

        @Test("ECONNRESET on a receive is an IOError naming the peer; ENOBUFS on a multishot receive is retried")
        func socketErrors() async throws {
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            let (message, chunk) = try await runtime.handle.spawn(on: .core(0)) { () -> (String, [UInt8]) in
                let listener = try TCPListener.bind(.loopback(port: 0))
                let address = try listener.localAddress
                let subject = ":\(address.port!)"
                let accepting = spawn { try await listener.accept() }
                let client = try await TCPStream.connect(to: address)
                let server = try await accepting.value
                let message = await FaultInjection.with([FaultRule("recv", subject: subject, .fail(.connectionReset))]) {
                    await failure { _ = try await client.read(into: IOBuffer(capacity: 8), maxLength: 8) }
                }
                try await client.writeAll(Array("hello".utf8))
                let chunk = try await FaultInjection.with([FaultRule("recv", .fail(.noBufferSpace), times: 2)]) {
                    var chunks = try server.receivedChunks().makeAsyncIterator()
                    return try await chunks.next()?.bytes ?? []
                }
                try await client.close()
                try await server.close()
                try await listener.close()
                return (message, chunk)
            }.value
            #expect(message.hasPrefix("recv ") && message.contains("127.0.0.1") && message.contains("ECONNRESET"), "\(message)")
            #expect(chunk == Array("hello".utf8))
        }

        @Test("the accept loop survives EMFILE, ENFILE and ENOMEM: it reports the shortage once and serves the client")
        func acceptLoopSurvivesShortages() async throws {
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            let (echoed, reports) = try await runtime.handle.spawn(on: .core(0)) { () -> ([UInt8], Int) in
                let listener = try TCPListener.bind(.loopback(port: 0))
                let address = try listener.localAddress
                let reports = SharedCounter()
                return try await FaultInjection.with([
                    FaultRule("accept", .fail(.tooManyOpenFiles), times: 2),
                    FaultRule("accept", .fail(.tooManyOpenFilesInSystem)),
                    FaultRule("accept", .fail(.noMemory)),
                ]) {
                    let serving = spawn {
                        for try await connection in listener.connections(onShortage: { _ in reports.increment() }) {
                            let line = try await connection.readExactly(4)
                            try await connection.writeAll(line)
                            try await connection.close()
                            return
                        }
                    }
                    let client = try await TCPStream.connect(to: address)
                    try await client.writeAll(Array("ping".utf8))
                    let echoed = try await client.readExactly(4)
                    try await serving.value
                    try await client.close()
                    try await listener.close()
                    return (echoed, reports.value)
                }
            }.value
            #expect(echoed == Array("ping".utf8))
            #expect(reports == 1, "one report for one shortage, not one per retry")
        }

        @Test("TORUS_FAULTS rules parse; malformed ones are refused")
        func ruleParsing() {
            #expect(FaultInjection.parseRule("write:ENOSPC@/dst/+2") == FaultRule("write", subject: "/dst/", .fail(.noSpace), skip: 2))
            #expect(FaultInjection.parseRule("send:short=1*all") == FaultRule("send", .short(1), times: .max))
            #expect(FaultInjection.parseRule("read:EIO*3") == FaultRule("read", .fail(.ioError), times: 3))
            for bad in [
                "write", "write:", "write:ENOTHING", "read:short=0", "read:EIO+x", "read:EIO*many", "read:EIO*0", "read:EIO+-1", " read:EIO", ":EIO",
            ] {
                #expect(FaultInjection.parseRule(bad) == nil, "\(bad)")
            }
        }

        // MARK: Programs

        @Test(
            "torus-cp: ENOSPC or EIO on a write or a read fails the file by name, leaves no partial or temporary file, exits 1; short transfers copy exactly"
        )
        func copyProgramUnderFaults() throws {
            let (directory, path, bytes) = try sampleFile(300_000)
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let cp = builtExecutable("torus-cp")
            for (index, (rules, method)) in [
                // The child copies one file, so its rules need no subject.
                // Short transfers first, so that the failure comes in the middle of the file.
                ("write:ENOSPC", "read-write"), ("write:EIO+3;write:short=50000*all", "read-write"),
                ("read:EIO+2;read:short=40000*all", "read-write"), ("open:EMFILE", "auto"),
                ("copy_file_range:EIO", "copy-file-range"),
            ].enumerated() {
                let destination = directory + "/dest-\(index)"
                let outcome = try runProcess(cp, ["--method", method, path, destination], environment: ["TORUS_FAULTS": rules])
                #expect(outcome.status == 1, "\(rules): \(outcome.stderr)")
                #expect(outcome.stderr.hasPrefix("torus-cp: "), "\(rules): \(outcome.stderr)")
                #expect(outcome.stderr.contains(directory), "\(rules): the message names the file: \(outcome.stderr)")
                let left = try FileManager.default.contentsOfDirectory(atPath: directory).sorted()
                #expect(left == ["source"], "\(rules): nothing but the source is left: \(left)")
            }
            for (index, rules) in ["read:short=4097*all;write:short=1000*all", "copy_file_range:EINTR*2"].enumerated() {
                let destination = directory + "/exact-\(index)"
                let method = index == 0 ? "read-write" : "copy-file-range"
                let outcome = try runProcess(cp, ["--method", method, path, destination], environment: ["TORUS_FAULTS": rules])
                #expect(outcome.status == 0, "\(rules): \(outcome.stderr)")
                #expect(try Data(contentsOf: URL(fileURLWithPath: destination)) == Data(bytes), "\(rules)")
            }
        }

        @Test("mini-redis-server answers right when every send and receive is cut short, and survives a reset receive")
        func miniRedisUnderFaults() throws {
            let value = String(repeating: "v", count: 100_000)
            let server = try miniRedisProcess(environment: ["TORUS_FAULTS": "send:short=3*all;recv:short=5*all"])
            #expect(try redisCLI(port: server.port, ["SET", "k", value]).output == "OK")
            #expect(try redisCLI(port: server.port, ["GET", "k"]).output == value)
            #expect(try redisCLI(port: server.port, ["PING"]).output == "PONG")
            _ = server.terminate()

            let resetting = try miniRedisProcess(environment: ["TORUS_FAULTS": "recv:ECONNRESET"])
            // The first client's receive fails; the server drops it and serves the next one.
            _ = try? redisCLI(port: resetting.port, ["PING"])
            #expect(try redisCLI(port: resetting.port, ["PING"]).output == "PONG")
            let (status, _) = resetting.terminate()
            #expect(status == miniRedisStatusAfterSIGTERM)
        }
    }
}
