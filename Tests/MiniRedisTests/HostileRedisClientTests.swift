import Foundation
import Glibc
import MiniRedis
import Testing
import TorusTestSupport

@testable import Torus

/// mini-redis against clients that try to break it: forged replies, quadratic parsing,
/// oversized requests, garbage. Each case was reproduced against the server before its fix.
extension RuntimeSuite {
    @Suite("mini-redis: hostile clients")
    struct HostileRedisClients {
        @Test("a command name with CR/LF cannot forge replies: redis's spaces instead")
        func replyInjection() async throws {
            let runtime = try makeRuntime()
            defer { runtime.shutdown() }
            let (address, server) = try startMiniRedis(on: runtime)
            defer { server.cancel() }
            let reply = try await runtime.handle.spawn { () -> String in
                let raw = try await TCPStream.connect(to: address)
                try await raw.writeAll("*2\r\n$19\r\nFOO\r\n+INJECTED\r\n:42\r\n$1\r\nx\r\n*1\r\n$4\r\nPING\r\n")
                try await raw.shutdown(.write)
                return String(decoding: try await raw.readToEnd(), as: UTF8.self)
            }.value
            #expect(reply == "-ERR unknown command 'FOO  +INJECTED  :42', with args beginning with: 'x'\r\n+PONG\r\n")
        }

        @Test("error replies never carry CR or LF, whatever the message")
        func errorEncoding() {
            #expect(Frame.error("ERR a\r\nb\nc\rd").encoded == Array("-ERR a  b c d\r\n".utf8))
        }
    }
}

extension RuntimeSuite.HostileRedisClients {
    /// `*COUNT` and COUNT one-byte bulk strings: DEL of COUNT - 1 keys.
    static func hugeDelete(count: Int) -> [UInt8] {
        var bytes = Array("*\(count)\r\n$3\r\nDEL\r\n".utf8)
        bytes.reserveCapacity(bytes.count + 7 * count)
        for _ in 1..<count { bytes += Array("$1\r\nx\r\n".utf8) }
        return bytes
    }

    @Test("a 1,048,576-element request in 2,000-byte writes costs little CPU: each byte is parsed once")
    func linearParsing() async throws {
        let server = try miniRedisProcess()
        let port = server.port
        let request = Self.hugeDelete(count: 1 << 20)
        let runtime = try makeRuntime()
        defer { runtime.shutdown() }
        let before = try processCPUSeconds(server.process.processIdentifier)
        let reply = try await runtime.handle.spawn { () -> [UInt8] in
            let raw = try await TCPStream.connect(to: .loopback(port: port))
            try raw.setNoDelay(true)
            var offset = 0
            while offset < request.count {
                let end = min(offset + 2000, request.count)
                try await raw.writeAll(request[offset..<end])
                offset = end
            }
            // Re-parsing from the start on every read took minutes here (debug build).
            return try await withTimeout(.seconds(20)) { try await raw.readExactly(4) }
        }.value
        let cpu = try processCPUSeconds(server.process.processIdentifier) - before
        #expect(reply == Array(":0\r\n".utf8))
        // Linear parsing of 7.3 MB plus a million-key DEL: well under a second even in a debug
        // build; the bound is generous for a loaded machine.
        #expect(cpu < 3, "server used \(cpu) s of CPU")
        #expect(server.terminate().0 == miniRedisStatusAfterSIGTERM)
    }

    /// Bytes handed out at most `chunk` at a time, as a client writing small pieces would
    /// arrive; counts the reads.
    final class TricklingReader: AsyncReader {
        let bytes: [UInt8]
        let chunk: Int
        var offset = 0
        var reads = 0
        init(_ bytes: [UInt8], chunk: Int) {
            self.bytes = bytes
            self.chunk = chunk
        }
        func read(into buffer: IOBuffer, maxLength: Int) async throws -> Int {
            let count = min(chunk, maxLength, buffer.freeCapacity, bytes.count - offset)
            buffer.append(bytes[offset..<offset + count])
            offset += count
            reads += 1
            return count
        }
    }

    @Test("the reader parses a 1,048,576-element request arriving 2,000 bytes per read in linear time")
    func linearReader() async throws {
        let request = Self.hugeDelete(count: 1 << 20)
        let source = TricklingReader(request, chunk: 2000)
        let reader = FrameReader(source)
        let started = ContinuousClock.now
        guard case .words(let words) = try await reader.readRequest() else { throw ProcessError(message: "no words") }
        let took = ContinuousClock.now - started
        #expect(words.count == 1 << 20)
        #expect(source.reads >= request.count / 2000)
        // Once per byte: about a second in a debug build at most. Parsing again from the start
        // on every read is 3,670 passes over up to 7.3 MB: minutes.
        #expect(took < .seconds(5), "took \(took)")
    }

    @Test("split at every point, a stream of requests parses to the same requests")
    func resumableParser() throws {
        var stream: [UInt8] = []
        let commands: [Command] = [
            .set(key: Array("k".utf8), value: [0, 13, 10, 36, 42], expiry: .seconds(5)), .get(key: Array("k".utf8)),
            .delete(keys: (0..<50).map { Array("key\($0)".utf8) }), .ping(message: nil),
        ]
        for command in commands { command.frame.encode(into: &stream) }
        stream += Array("*0\r\nPING inline\r\n".utf8)
        let expected = commands.map(\.frame) + [.array([.bulk("PING"), .bulk("inline")])]
        for chunkSize in [1, 2, 3, 7, 64, stream.count] {
            var parser = RequestParser()
            var buffered: [UInt8] = []
            var parsed: [Frame] = []
            var offset = 0
            while offset < stream.count {
                let end = min(offset + chunkSize, stream.count)
                buffered += stream[offset..<end]
                offset = end
                while true {
                    let (request, consumed) = try buffered.withUnsafeBytes { try parser.parse($0) }
                    buffered.removeFirst(consumed)
                    guard let request else { break }
                    switch request {
                    case .words(let words): parsed.append(.array(words.map { .bulk($0) }))
                    case .frame(let frame): parsed.append(frame)
                    }
                }
            }
            #expect(parsed == expected, "chunks of \(chunkSize)")
            #expect(buffered.isEmpty && !parser.isInsideRequest)
        }
    }

    @Test("a request over the client query buffer limit is refused and its client disconnected")
    func queryBufferLimit() async throws {
        let runtime = try makeRuntime()
        defer { runtime.shutdown() }
        let (address, server) = try startMiniRedis(on: runtime, server: Server(maxRequestSize: 64 << 10))
        defer { server.cancel() }
        try await runtime.handle.spawn {
            // A value of 100 KB, announced honestly, sent in pieces.
            let raw = try await TCPStream.connect(to: address)
            try await raw.writeAll("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$100000\r\n")
            for _ in 0..<10 { try await raw.writeAll(Array(repeating: UInt8(ascii: "v"), count: 10_000)) }
            let reply = String(decoding: try await withTimeout(.seconds(5)) { try await raw.readToEnd() }, as: UTF8.self)
            #expect(reply.hasPrefix("-ERR Protocol error: request over the client query buffer limit"), "\(reply)")
            try await raw.close()
            // Under the limit, many words of a request still fit.
            let client = try await Client.connect(to: address)
            #expect(try await client.send(.delete(keys: (0..<3_000).map { Array("key\($0)".utf8) })) == .integer(0))
            try await client.set("k", String(repeating: "v", count: 60_000))
            try await client.close()
        }.value
    }

    @Test("a second server on a port in use exits 1 with EADDRINUSE; --cores above the CPU count is clamped")
    func portInUse() throws {
        let first = try miniRedisProcess()
        let second = try runProcess(builtExecutable("mini-redis-server"), ["--port", "\(first.port)", "--cores", "2"])
        #expect(second.status == 1)
        #expect(second.stderr.contains("Address already in use"), "\(second.stderr)")
        // The first still serves every client.
        for _ in 0..<10 { #expect(try redisCLI(port: first.port, ["PING"]).output == "PONG") }
        #expect(first.terminate().0 == miniRedisStatusAfterSIGTERM)

        let clamped = try ListeningProcess("mini-redis-server", ["--port", "0", "--cores", "4096"])
        #expect(clamped.terminate().0 == miniRedisStatusAfterSIGTERM)
        let warning = String(decoding: clamped.errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(warning.contains("--cores 4096 is more than the \(Runtime.allowedCPUs.count) CPUs"), "\(warning)")
        let badPort = try runProcess(builtExecutable("mini-redis-server"), ["--port", "99999"])
        #expect(badPort.status == 1)
    }
}
