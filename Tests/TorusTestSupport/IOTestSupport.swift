import Foundation
import Testing

@testable import Torus

/// File and socket descriptors open in this process (ring and eventfd descriptors of other
/// tests' runtimes are `anon_inode`s and are left out, so parallel suites cannot disturb it).
package func openFileAndSocketDescriptors() -> Int {
    let names = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
    return names.filter { name in
        guard let target = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/\(name)") else { return false }
        return target.hasPrefix("socket:") || (target.hasPrefix("/") && !target.hasPrefix("/proc") && !target.hasPrefix("/dev"))
    }.count
}

/// A fresh temporary directory, removed by the caller.
package func makeTemporaryDirectory() throws -> String {
    let path = NSTemporaryDirectory() + "torus-test-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

/// Deterministic pseudo-random bytes.
package func pseudoRandomBytes(_ count: Int, seed: UInt64) -> [UInt8] {
    var state = seed | 1
    return (0..<count).map { _ in
        state ^= state << 13
        state ^= state >> 7
        state ^= state << 17
        return UInt8(truncatingIfNeeded: state)
    }
}

/// FNV-1a over bytes, for checking large transfers.
package struct Checksum {
    package var value: UInt64 = 0xcbf2_9ce4_8422_2325
    package init() {}
    package mutating func add(_ bytes: UnsafeRawBufferPointer) {
        for byte in bytes {
            value ^= UInt64(byte)
            value &*= 0x100_0000_01b3
        }
    }
}

/// A connected TCP pair on the caller's core: (client, server side).
package func connectedPair() async throws -> (TCPStream, TCPStream) {
    let listener = try TCPListener.bind(.loopback(port: 0))
    let address = try listener.localAddress
    let accepting = spawn { try await listener.accept() }
    let client = try await TCPStream.connect(to: address)
    let server = try await accepting.value
    try await listener.close()
    return (client, server)
}

/// A port nothing listens on (bound, then closed).
package func unusedPort() throws -> UInt16 {
    let listener = try TCPListener.bind(.loopback(port: 0))
    let port = try listener.localAddress.port!
    listener.handle.closeNow()
    return port
}

/// A small deterministic random generator (xorshift64*), so that a failing tree can be made again.
package struct SeededGenerator: RandomNumberGenerator {
    package var state: UInt64
    package init(seed: UInt64) { state = seed | 1 }
    package mutating func next() -> UInt64 {
        state ^= state >> 12
        state ^= state << 25
        state ^= state >> 27
        return state &* 0x2545_F491_4F6C_DD1D
    }
}

/// Where two byte arrays first differ (a length difference counts at the shorter's end), nil
/// when they are equal. For large transfers: an `#expect(a == b)` would print both arrays.
package func firstDifference(_ a: [UInt8], _ b: [UInt8]) -> Int? {
    let common = min(a.count, b.count)
    for index in 0..<common where a[index] != b[index] { return index }
    return a.count == b.count ? nil : common
}
