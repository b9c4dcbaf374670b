import Foundation
import Torus

/// Server memory for many idle connections: Torus's multishot receives into provided buffers
/// against the owned-buffer design (one receive buffer per waiting connection).
///
/// The clients live in a child process (`torus-bench --idle-clients N PORT`) so that each
/// process stays within its descriptor limit.
struct IdleConnections {
    let connections: Int

    func run() throws -> [Comparison] {
        let provided = try measure(ownedBuffers: false)
        let owned = try measure(ownedBuffers: true)
        return [
            Comparison(
                name: "server RSS growth, \(connections) idle connections", unit: "MiB", torus: provided,
                peers: [("owned 16 KiB buffer per pending receive, as in monoio / tokio-uring", owned)],
                note: "provided-buffer ring: 1024 x 16 KiB per core, shared by all connections")
        ]
    }

    /// RSS growth in MiB once `connections` connections are accepted and each has a receive
    /// waiting.
    func measure(ownedBuffers: Bool) throws -> Double {
        let runtime = try Runtime(RuntimeConfiguration(cores: .count(1)))
        defer { runtime.shutdown(gracePeriod: .zero) }
        let listener = try runtime.block { try TCPListener.bind(.loopback(port: 0), backlog: 4096) }
        let port = try listener.localAddress.port!
        let before = residentMiB()
        let child = Process()
        child.executableURL = URL(fileURLWithPath: CommandLine.arguments[0])
        child.arguments = ["--idle-clients", "\(connections)", "\(port)"]
        let input = Pipe()
        child.standardInput = input
        try child.run()
        let count = connections
        try runtime.block {
            for _ in 0..<count {
                let connection = try await listener.accept()
                spawn {
                    if ownedBuffers {
                        // A connection that has received before has touched its buffer.
                        let buffer = IOBuffer(capacity: 16 << 10)
                        _ = buffer.withUnsafeMutableBytes { $0.initializeMemory(as: UInt8.self, repeating: 0) }
                        _ = try await connection.read(into: buffer)
                    } else {
                        for try await _ in try connection.receivedChunks() {}
                    }
                }
            }
            try await sleep(for: .milliseconds(200))
        }
        let after = residentMiB()
        try input.fileHandleForWriting.close()
        child.waitUntilExit()
        return after - before
    }
}

/// VmRSS of this process in MiB.
func residentMiB() -> Double {
    let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
    let line = status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") } ?? ""
    let kib = Double(line.split(separator: " ").dropFirst().first ?? "0") ?? 0
    return kib / 1024
}

/// The child side: open `count` connections to 127.0.0.1:`port`, hold them until stdin closes.
func holdIdleClients(count: Int, port: UInt16) -> Never {
    var descriptors: [Int32] = []
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = port.bigEndian
    address.sin_addr = in_addr(s_addr: UInt32(0x7F00_0001).bigEndian)
    for _ in 0..<count {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        if result != 0 {
            print("idle client: connect failed: \(String(cString: strerror(errno)))")
            exit(1)
        }
        descriptors.append(fd)
    }
    _ = FileHandle.standardInput.readDataToEndOfFile()
    for fd in descriptors { close(fd) }
    exit(0)
}
