import Foundation
import Glibc
import Testing
import TorusTestSupport

@testable import Torus

// Descriptors are held by the operations that use them (SharedDescriptor): a close while an
// operation is queued or in flight waits for it (ending it first where it could wait forever),
// so no queued SQE ever reaches a file that reused the number.

/// Runs `body` in a task and fails the test (instead of hanging the suite) if it has not
/// finished within `limit`.
private func finishing<T: Sendable>(
    within limit: Duration, _ what: String, _ body: sending @escaping () async throws -> T
) async throws -> T {
    let work = spawn(body)
    let watchdog = spawn {
        try await sleep(for: limit)
        Issue.record("\(what) did not finish within \(limit)")
        work.cancel()
    }
    defer { watchdog.cancel() }
    return try await work.value
}

extension RuntimeSuite {
    @Suite("Descriptor ownership")
    struct DescriptorOwnershipTests {
        @Test("a read queued before an inline close and a reopen in the same loop turn reads the old file, never the new one")
        func queuedReadNeverReachesReusedNumber() async throws {
            let directory = try makeTemporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let oldPath = directory + "/old"
            let newPath = directory + "/new"
            try Data(repeating: UInt8(ascii: "O"), count: 4096).write(to: URL(fileURLWithPath: oldPath))
            try Data(repeating: UInt8(ascii: "N"), count: 4096).write(to: URL(fileURLWithPath: newPath))
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            for round in 0..<50 {
                let (read, reopenedNumber, oldNumber) = try await runtime.handle.spawn(on: .core(0)) { () -> ([UInt8], Int32, Int32) in
                    let file = try await File.open(FilePath(oldPath))
                    let oldNumber = file.descriptor.rawValue
                    // Both tasks are queued on this core before either runs: the reader
                    // prepares its SQE and suspends, then the closer runs in the same turn,
                    // before the loop hands the SQE to the kernel.
                    let reader = spawn { () -> [UInt8] in
                        let buffer = IOBuffer(capacity: 4096)
                        _ = try await file.read(into: buffer, at: 0)
                        return Array(buffer.bytes)
                    }
                    let closer = spawn { () -> (File, Int32) in
                        try await file.close(via: .inline)
                        let reopened = try await File.open(FilePath(newPath), via: .inline)
                        return (reopened, reopened.descriptor.rawValue)
                    }
                    let bytes = try await reader.value
                    let (reopened, number) = try await closer.value
                    try await reopened.close()
                    return (bytes, number, oldNumber)
                }.value
                #expect(read.count == 4096, "round \(round)")
                #expect(
                    read.allSatisfy { $0 == UInt8(ascii: "O") },
                    "round \(round): the queued read reached the file opened as \(reopenedNumber) (old \(oldNumber))")
            }
        }

        @Test("closing a FIFO while another task waits in its read ends the read and closes promptly, leaking nothing")
        func closeEndsBlockedFIFORead() async throws {
            let directory = try makeTemporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let fifo = directory + "/fifo"
            #expect(mkfifo(fifo, 0o600) == 0)
            let before = openFileAndSocketDescriptors()
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            let outcome = try await runtime.handle.spawn(on: .core(0)) { () -> String in
                // Read and write: opening a FIFO so does not wait for a writer, and no data comes.
                let file = try await File.open(FilePath(fifo), options: [.read, .write])
                let reader = spawn { () -> String in
                    do {
                        let n = try await file.read(into: IOBuffer(capacity: 64), maxLength: 64)
                        return "read \(n)"
                    } catch let error as IOError {
                        return "\(error.errno)"
                    }
                }
                try await sleep(for: .milliseconds(50))
                try await finishing(within: .seconds(2), "close of a FIFO with a blocked reader") { try await file.close() }
                return try await reader.value
            }.value
            #expect(outcome == "\(Errno.canceled)", "the waiting read ends with ECANCELED, got \(outcome)")
            #expect(openFileAndSocketDescriptors() == before)
        }

        @Test("closing a TCP stream ends a receive and a send that other tasks wait in (a peer that never reads)")
        func closeEndsBlockedSocketOperations() async throws {
            let before = openFileAndSocketDescriptors()
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            let (readFailed, sendFailed) = try await runtime.handle.spawn(on: .core(0)) { () -> (Bool, Bool) in
                let (client, server) = try await connectedPair()
                // The peer never reads or writes: the receive waits in the kernel, and the send
                // fills the socket buffers and then blocks (in an io-wq worker).
                let receiving = spawn { () -> Bool in
                    do {
                        _ = try await client.read(into: IOBuffer(capacity: 64), maxLength: 64)
                        return false
                    } catch { return true }
                }
                let sending = spawn { () -> Bool in
                    do {
                        try await client.writeAll([UInt8](repeating: 7, count: 64 << 20))
                        return false
                    } catch { return true }
                }
                try await sleep(for: .milliseconds(100))
                try await finishing(within: .seconds(2), "close of a stream with a blocked receive and send") { try await client.close() }
                let results = (try await receiving.value, try await sending.value)
                try await server.close()
                return results
            }.value
            #expect(readFailed && sendFailed, "both waits end with an error once the stream is closed")
            #expect(openFileAndSocketDescriptors() == before)
        }

        @Test("closing a stream another core is receiving chunks from ends that iteration; the descriptor is closed once")
        func closeFromAnotherCoreEndsMultishotReceive() async throws {
            let before = openFileAndSocketDescriptors()
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            let ended = try await runtime.handle.spawn(on: .core(0)) { () -> Bool in
                let (client, server) = try await connectedPair()
                try await client.writeAll(Array("hello".utf8))
                let iterating = spawn { () -> Bool in
                    var chunks = try server.receivedChunks().makeAsyncIterator()
                    _ = try await chunks.next()
                    do { _ = try await chunks.next() } catch { return true }
                    return true
                }
                try await sleep(for: .milliseconds(50))
                // From core 1: the multishot receive is armed on core 0.
                try await finishing(within: .seconds(2), "close from another core") {
                    try await Core.current!.shared.cores[1].run { try await server.close() }
                }
                // Closing twice, from two tasks, does nothing more.
                async let again: Void = server.close()
                try await server.close()
                try await again
                let result = try await iterating.value
                try await client.close()
                return result
            }.value
            #expect(ended)
            #expect(openFileAndSocketDescriptors() == before)
        }

        @Test("calls after a close fail with EBADF naming the operation and the path; no number is reused under them")
        func callsAfterCloseFail() async throws {
            let directory = try makeTemporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let path = directory + "/f"
            try Data("x".utf8).write(to: URL(fileURLWithPath: path))
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            let message = try await runtime.handle.spawn(on: .core(0)) { () -> String in
                let file = try await File.open(FilePath(path))
                try await file.close()
                #expect(file.descriptor.rawValue == -1)
                do {
                    _ = try await file.read(into: IOBuffer(capacity: 8), maxLength: 8)
                    return "read succeeded"
                } catch let error as IOError {
                    return error.description
                }
            }.value
            #expect(message.contains("read"))
            #expect(message.contains(path))
            #expect(message.contains("EBADF"))
        }
    }
}
