// Tutorial chapter 4, Channels: the seed's manager task that owns a mini-redis connection and
// serves commands sent over a channel with oneshot responders; backpressure with a bounded
// queue; an accept loop bounded by a semaphore.
//
//   tutorial-channels [SERVER_ADDRESS]      (default localhost:6379)
import MiniRedis
import Synchronization
import Torus

let serverAddress = CommandLine.arguments.dropFirst().first ?? "localhost:6379"

// snippet:begin command
/// What the manager task is asked to do; each command carries the channel for its answer.
enum Command: Sendable {
    case get(key: String, respond: Responder<[UInt8]?>)
    case set(key: String, value: [UInt8], respond: Responder<Void>)
}

/// The reply channel: the manager sends the result of the request back through it.
typealias Responder<T: Sendable> = Oneshot.Sender<Result<T, any Error>>
// snippet:end

/// Counts something that goes up and down and remembers its highest value.
final class Gauge: Sendable {
    private let state = Mutex((now: 0, most: 0))
    func enter() { state.withLock { $0.now += 1; $0.most = max($0.most, $0.now) } }
    func leave() { state.withLock { $0.now -= 1 } }
    func observe(_ value: Int) { state.withLock { $0.most = max($0.most, value) } }
    var most: Int { state.withLock { $0.most } }
}

func managerExample() async throws {
    // snippet:begin manager
    let (commands, inbox) = MPSC.bounded(Command.self, capacity: 32)

    // The manager owns the connection: `Client` is not Sendable, so no other task can reach it.
    let manager = spawn {
        let client = try await Client.connect(to: serverAddress)
        for await command in inbox {
            switch command {
            case .get(let key, let respond):
                let result = await Result { try await client.get(key) }
                respond.send(result)
            case .set(let key, let value, let respond):
                let result = await Result { try await client.set(key, value) }
                respond.send(result)
            }
        }
    }

    let setter = spawn { [commands] in
        let (respond, response) = Oneshot.channel(Result<Void, any Error>.self)
        try await commands.send(.set(key: "foo", value: Array("bar".utf8), respond: respond))
        try await response.value.get()
        return "OK"
    }
    print("GOT (Set) = \(try await setter.value)")

    let getter = spawn { [commands] in
        let (respond, response) = Oneshot.channel(Result<[UInt8]?, any Error>.self)
        try await commands.send(.get(key: "foo", respond: respond))
        return try await response.value.get().map { String(decoding: $0, as: UTF8.self) }
    }
    print("GOT (Get) = \(try await getter.value ?? "nil")")

    commands.finish()          // the last sender is done: the manager's loop ends
    try await manager.value
    // snippet:end
}

extension Result where Failure == any Error {
    /// Runs an async throwing body and captures its outcome.
    init(_ body: () async throws -> Success) async {
        do { self = .success(try await body()) } catch { self = .failure(error) }
    }
}

func backpressureExample() async throws {
    // snippet:begin backpressure
    // A bounded queue makes a fast producer wait for a slow consumer instead of piling up
    // values in memory.
    let (jobs, queue) = MPSC.bounded(Int.self, capacity: 4)
    let queued = Gauge()
    let consumer = spawn {
        var done = 0
        for await job in queue {
            try await sleep(for: .milliseconds(1))   // slow work
            done = job + 1
            queued.observe(queue.count)
        }
        return done
    }
    for job in 0..<50 {
        try await jobs.send(job)   // suspends while 4 jobs are already waiting
    }
    jobs.finish()
    print("consumed \(try await consumer.value) jobs; the queue never held more than \(queued.most)")
    // snippet:end
}

func boundedAcceptExample() async throws {
    // snippet:begin bounded-accept
    // Bound the work an accept loop takes on: at most 2 connections are served at once; the
    // others wait in the kernel's listen backlog until a permit is free.
    let listener = try TCPListener.bind("127.0.0.1:0")
    let address = try listener.localAddress
    let permits = AsyncSemaphore(permits: 2)
    let active = Gauge()

    let server = spawn {
        try await withThrowingDiscardingTaskGroup { group in
            for _ in 0..<8 {
                let permit = try await permits.acquire()
                let connection = try await listener.accept()
                group.addTask {
                    defer { permit.release() }
                    active.enter()
                    try await sleep(for: .milliseconds(5))   // serve the client
                    try await connection.writeAll("bye\n")
                    active.leave()
                    try await connection.close()
                }
            }
        }
    }
    let clients = (0..<8).map { _ in
        spawn { try await TCPStream.connect(to: address).readToEnd().count }
    }
    for client in clients { _ = try await client.value }
    try await server.value
    print("8 clients served, at most \(active.most) at a time")
    // snippet:end
}

do {
    try Runtime.run {
        try await managerExample()
        try await backpressureExample()
        try await boundedAcceptExample()
    }
} catch {
    print("tutorial-channels: \(error)")
    print("(is a mini-redis server running at \(serverAddress)? start one with: swift run mini-redis-server)")
}
