import Foundation
import Glibc
import MiniRedis
import Testing
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
