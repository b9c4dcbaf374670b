// Tutorial chapter 7, Select, streams and graceful shutdown.
//
//   tutorial-select            select, streams, then a server that shuts down gracefully when
//                              it gets SIGINT (the program sends it to itself after a moment)
import Glibc
import Torus

func selectExample() async throws {
    // snippet:begin select
    let (firstSender, first) = Oneshot.channel(String.self)
    let (secondSender, second) = Oneshot.channel(String.self)
    spawn { try await sleep(for: .milliseconds(20)); firstSender.send("one") }
    spawn { try await sleep(for: .milliseconds(5)); secondSender.send("two") }

    // Each branch waits without taking anything; the first one ready wins and its handler runs.
    let message: String = try await select(
        .value(of: first) { "rx1 completed first with \(try $0.get())" },
        .value(of: second) { "rx2 completed first with \(try $0.get())" }
    )
    print(message)
    // snippet:end

    // snippet:begin select-loop
    enum Event { case message(Int), tick, closed }
    let (producer, inbox) = MPSC.bounded(Int.self, capacity: 4)
    spawn {
        for value in 1...100 { try await producer.send(value) }
        producer.finish()
    }
    var received: [Int] = []
    var ticks = 0
    loop: while true {
        // A losing receive branch takes nothing, so no value is ever lost to the timer.
        let event: Event = try await select(
            .receive(from: inbox) { $0.map(Event.message) ?? .closed },
            .sleep(for: .microseconds(50)) { .tick }
        )
        switch event {
        case .message(let value): received.append(value)
        case .tick: ticks += 1
        case .closed: break loop
        }
    }
    print("received \(received.count) of 100 in order: \(received == Array(1...100))")
    // snippet:end

    // snippet:begin timeout
    let neverNotified = Notify()
    do {
        try await withTimeout(.milliseconds(10)) { try await neverNotified.notified() }
    } catch let error as TimeoutError {
        print("no answer: \(error)")
    }
    // snippet:end
}

func readTimeoutExample() async throws {
    let listener = try TCPListener.bind("127.0.0.1:0")
    let address = try listener.localAddress
    // A slow peer: lines arrive in pieces, with pauses longer than the reader's timeout.
    spawn {
        let peer = try await listener.accept()
        for piece in ["hel", "lo\nwor", "ld\n", "last"] {
            try await peer.writeAll(piece)
            try await sleep(for: .milliseconds(30))
        }
        try await peer.close()
    }
    let stream = try await TCPStream.connect(to: address)
    // snippet:begin read-timeout
    let reader = BufferedReader(stream)   // not Sendable: fine, nothing leaves this task
    var lines: [String] = []
    var timeouts = 0
    while true {
        do {
            guard let line = try await withTimeout(.milliseconds(10), { try await reader.readLine() }) else { break }
            lines.append(line)
        } catch is TimeoutError {
            timeouts += 1   // the part of a line received so far stays in the reader
        }
    }
    print("lines: \(lines), after \(timeouts > 1 ? "several" : "too few") timeouts")
    // snippet:end
}

func tokenExample() async throws {
    // snippet:begin token
    let shutdown = CancellationToken()
    let workers = (0..<3).map { index in
        spawn(on: .spread) { () -> String in
            // Every Torus wait inside run stops when the token is cancelled; the task goes on.
            let finished = try await shutdown.run { try await sleep(for: .seconds(60)); return true }
            return finished == nil ? "worker \(index) stopped" : "worker \(index) finished"
        }
    }
    try await sleep(for: .milliseconds(10))
    shutdown.cancel()
    for worker in workers { print(try await worker.value) }
    // snippet:end
}

func streamsExample() async throws {
    // snippet:begin streams
    // Channels and timers are AsyncSequences: the standard library's map, filter and prefix
    // work on them, lazily, one element at a time.
    let (sender, numbers) = MPSC.unbounded(Int.self)
    spawn {
        for value in 0..<10 { try sender.trySend(value) }
        sender.finish()
    }
    let evenSquares = numbers.filter { $0 % 2 == 0 }.map { $0 * $0 }
    var collected: [Int] = []
    for await square in evenSquares { collected.append(square) }
    print("even squares: \(collected)")

    var ticks = 0
    for await _ in interval(every: .milliseconds(2)).prefix(3) { ticks += 1 }
    print("ticked \(ticks) times")
    // snippet:end
}

// snippet:begin shutdown
/// A server that stops gracefully: on SIGINT it stops accepting, tells every connection to
/// finish, and waits for them before returning.
func serveUntilInterrupted(_ listener: TCPListener) async throws -> Int {
    let (shutdown, shutdownRequested) = Watch.channel(false)
    let finished = AsyncMutex(0)

    return try await withThrowingTaskGroup(of: Void.self) { group in
        // 1. The signal: the Watch channel tells everyone at once.
        group.addTask {
            let signal = try await waitForSignal([.interrupt, .terminate])
            print("received \(signal): shutting down")
            shutdown.send(true)
        }
        // 2. The accept loop stops when the shutdown is requested.
        group.addTask {
            try await withThrowingDiscardingTaskGroup { connections in
                let stop = shutdownRequested.clone()
                while true {
                    let accepted: TCPStream? = try await select(
                        .operation({ try await listener.accept() }) { $0 },
                        .changed(stop) { _ in nil }
                    )
                    guard let connection = accepted else { break }
                    let stopConnection = shutdownRequested.clone()
                    connections.addTask {
                        // 3. Each connection finishes its work, says goodbye, and closes.
                        try await stopConnection.changed()
                        try await connection.writeAll("server shutting down, goodbye\n")
                        try await connection.close()
                        try await finished.withLock { $0 += 1 }
                    }
                }
            }   // 4. ...and the group waits for every connection before it returns.
        }
        try await group.waitForAll()
        return try await finished.withLock { $0 }
    }
}
// snippet:end

func shutdownExample() async throws {
    let listener = try TCPListener.bind("127.0.0.1:0")
    let address = try listener.localAddress
    let server = spawn { try await serveUntilInterrupted(listener) }
    // Two clients connect and wait; then the program interrupts itself, as Ctrl-C would.
    let clients = (0..<2).map { _ in
        spawn { () -> String in
            let stream = try await TCPStream.connect(to: address)
            return String(decoding: try await stream.readToEnd(), as: UTF8.self)
        }
    }
    try await sleep(for: .milliseconds(100))
    kill(getpid(), SIGINT)
    let closed = try await server.value
    for client in clients { print("client got: \(try await client.value)", terminator: "") }
    print("shutdown complete: \(closed) connections closed gracefully")
}

do {
    try Runtime.run(RuntimeConfiguration(cores: .count(1))) {
        try await selectExample()
        try await readTimeoutExample()
        try await tokenExample()
        try await streamsExample()
        try await shutdownExample()
    }
} catch {
    print("tutorial-select: \(error)")
    exit(1)
}
