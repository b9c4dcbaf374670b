// Tutorial chapter 5, I/O: reading and writing files, copy, the echo server written with
// `copy` and by hand, and a client that splits its stream into a read half and a write half.
//
//   tutorial-io files DIRECTORY          write, copy and read files in DIRECTORY
//   tutorial-io echo-copy [PORT]         echo server using copy(from:to:) (SIGINT stops it)
//   tutorial-io echo-manual [PORT]       echo server with a hand-written read/write loop
//   tutorial-io split-client ADDRESS     send two lines from one task, read them in another
import Glibc
import Torus

func say(_ line: String) {
    let text = line + "\n"
    _ = text.withCString { write(1, $0, strlen($0)) }
}

// snippet:begin byte-reader
/// Anything can be a reader: here, bytes in memory.
final class ByteReader: AsyncReader {
    private var bytes: ArraySlice<UInt8>
    init(_ bytes: [UInt8]) { self.bytes = bytes[...] }

    func read(into buffer: IOBuffer, maxLength: Int) async throws -> Int {
        let chunk = bytes.prefix(maxLength)
        buffer.append(chunk)
        bytes = bytes.dropFirst(chunk.count)
        return chunk.count
    }
}
// snippet:end

func filesExample(directory: String) async throws {
    // snippet:begin files
    let path = FilePath(directory).appending("foo.txt")

    // copy(from:to:): from any reader to any writer.
    let file = try await File.create(path)
    let copied = try await copy(from: ByteReader(Array("hello, torus".utf8)), to: file)
    try await file.close()
    say("copied \(copied) bytes into \(path)")

    // read: at most what fits in the buffer; 0 means end of file.
    let reader = try await File.open(path)
    let buffer = IOBuffer(capacity: 10)
    let count = try await reader.read(into: buffer)
    say("The bytes: \(buffer.bytes) (\(count) of them)")

    // readToEnd: the rest.
    let rest = try await reader.readToEnd()
    say("the rest: \(String(decoding: rest, as: UTF8.self))")
    try await reader.close()

    // writeAll: loops over short writes until everything is written.
    let log = try await File.open(path, options: [.write, .append])
    try await log.writeAll("\nappended line")
    try await log.close()
    say("whole file: \(String(decoding: try await FileSystem.readFile(at: path), as: UTF8.self).debugDescription)")
    // snippet:end
}

func echoWithCopy(port: UInt16) async throws {
    // snippet:begin echo-copy
    let listener = try TCPListener.bind(.loopback(port: port))
    say("listening on \(try listener.localAddress)")
    try await withThrowingDiscardingTaskGroup { group in
        for try await socket in listener.connections {
            group.addTask {
                // Split the stream: the read half is the reader, the write half the writer.
                let (reader, writer) = socket.split()
                _ = try? await copy(from: reader, to: writer)
                try? await socket.close()
            }
        }
    }
    // snippet:end
}

func echoByHand(port: UInt16) async throws {
    // snippet:begin echo-manual
    let listener = try TCPListener.bind(.loopback(port: port))
    say("listening on \(try listener.localAddress)")
    try await withThrowingDiscardingTaskGroup { group in
        for try await socket in listener.connections {
            group.addTask {
                // One buffer per connection, allocated once, on the heap: the task itself
                // stays small however big the buffer is.
                let buffer = IOBuffer(capacity: 1024)
                while true {
                    buffer.clear()
                    guard let count = try? await socket.read(into: buffer), count > 0 else { break }
                    do {
                        try await socket.writeAll(buffer)
                    } catch {
                        break
                    }
                }
                try? await socket.close()
            }
        }
    }
    // snippet:end
}

func splitClient(address: String) async throws {
    // snippet:begin split-client
    let socket = try await TCPStream.connect(to: address)
    let (reader, writer) = socket.split()

    // The write half goes to another task...
    let sending = spawn {
        try await writer.writeAll("hello\r\n")
        try await writer.writeAll("world\r\n")
        try await writer.shutdown()   // half-close: the server sees the end and closes too
    }

    // ...while this one reads until the server closes.
    let buffer = IOBuffer(capacity: 128)
    while true {
        buffer.clear()
        let count = try await reader.read(into: buffer)
        if count == 0 { break }
        say("GOT \(String(decoding: buffer.bytes, as: UTF8.self).debugDescription)")
    }
    try await sending.value
    try await socket.close()
    // snippet:end
}

/// Runs `server` until SIGINT or SIGTERM.
func serveUntilSignal(_ server: @escaping @Sendable () async throws -> Void) async throws {
    try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { try await server() }
        group.addTask { _ = try await waitForSignal() }
        try await group.next()
        group.cancelAll()
    }
}

let arguments = Array(CommandLine.arguments.dropFirst())
let mode = arguments.first ?? ""
let argument = arguments.dropFirst().first
let port = argument.flatMap { UInt16($0) } ?? 6142
do {
    try Runtime.run(RuntimeConfiguration(cores: .count(1))) {
        switch mode {
        case "files": try await filesExample(directory: argument ?? "/tmp")
        case "echo-copy": try await serveUntilSignal { try await echoWithCopy(port: port) }
        case "echo-manual": try await serveUntilSignal { try await echoByHand(port: port) }
        case "split-client": try await splitClient(address: argument ?? "127.0.0.1:6142")
        default: say("usage: tutorial-io files DIR | echo-copy [PORT] | echo-manual [PORT] | split-client ADDRESS")
        }
    }
} catch {
    say("tutorial-io: \(error)")
    exit(1)
}
