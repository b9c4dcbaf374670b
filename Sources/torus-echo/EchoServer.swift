import Glibc
import Synchronization
import Torus

/// How the server spreads connections over cores.
enum AcceptMode: String, CaseIterable, Sendable {
    /// Every core has its own `SO_REUSEPORT` listener; the kernel spreads connections.
    case reuseport
    /// Core 0 accepts and hands each connection to the core with the fewest.
    case handoff
}

/// How the server receives.
enum BufferMode: String, CaseIterable, Sendable {
    /// Multishot receive into the core's provided-buffer ring (idle connections hold nothing).
    case provided
    /// One owned 16 KiB buffer per connection.
    case owned
}

/// How the server sends the echo back.
enum ReplyMode: String, CaseIterable, Sendable {
    /// Received chunks go to the stream's ``SendQueue`` from the receive's completion, on the
    /// core (`forward(to:)`): no task resumption per message. With owned buffers, as `queued`.
    case forwarded
    /// Through a ``SendQueue``: the task goes back to receiving at once, and the core sends.
    case queued
    /// Each send awaited before the next receive (`writeAll`).
    case awaited
}

/// The echo server: one executor per core, every byte echoed back.
struct EchoServer: Sendable {
    let address: SocketAddress
    let accept: AcceptMode
    let buffers: BufferMode
    var replies: ReplyMode = .forwarded

    /// Live connections per core (for hand-off).
    final class Load: Sendable {
        private let perCore: Mutex<[Int]>
        init(cores: Int) { perCore = Mutex(Array(repeating: 0, count: cores)) }
        /// Picks the core with the fewest connections and counts one more there.
        func assign(preferring core: Int?) -> Int {
            perCore.withLock { counts in
                let chosen = core ?? counts.indices.min { counts[$0] < counts[$1] } ?? 0
                counts[chosen] += 1
                return chosen
            }
        }
        func release(_ core: Int) { perCore.withLock { $0[core] -= 1 } }
    }

    /// Runs until the calling task is cancelled. `ready` gets the bound address.
    func run(ready: @escaping @Sendable (SocketAddress) -> Void) async throws {
        let allCores = RuntimeHandle.current!.cores
        let cores = allCores.count
        let load = Load(cores: cores)
        switch accept {
        case .reuseport:
            let listeners = try TCPListener.bindReusingPort(address, count: cores, backlog: 4096)
            ready(try listeners[0].localAddress)
            try await withThrowingTaskGroup(of: Void.self) { group in
                // Structured children pinned with an executor preference: cancelling the server
                // cancels every accept loop (a spawned task would not inherit the cancellation).
                for (index, listener) in listeners.enumerated() {
                    group.addTask(executorPreference: allCores[index]) {
                        try await acceptLoop(listener, load: load, handoff: false)
                    }
                }
                try await group.waitForAll()
            }
        case .handoff:
            let listener = try TCPListener.bind(address, backlog: 4096)
            ready(try listener.localAddress)
            try await acceptLoop(listener, load: load, handoff: true)
        }
    }

    private func acceptLoop(_ listener: TCPListener, load: Load, handoff: Bool) async throws {
        try await withThrowingDiscardingTaskGroup { group in
            // Out of descriptors, the sequence waits and accepts again (clients wait in the
            // backlog until connections close); say so once per shortage.
            let shortage: @Sendable (IOError) -> Void = { error in
                printError("torus-echo server: accept: \(error); retrying until descriptors are freed (raise `ulimit -n`?)")
            }
            for try await connection in listener.connections(onShortage: shortage) {
                let core = load.assign(preferring: handoff ? nil : Core.current!.index)
                let buffers = self.buffers
                let replies = self.replies
                // Served on the chosen core, as a child: shutdown cancels it.
                group.addTask(executorPreference: RuntimeHandle.current!.cores[core]) {
                    defer { load.release(core) }
                    await serve(connection, buffers: buffers, replies: replies)
                }
            }
        }
        try await listener.close()
    }
}

/// Echoes one connection until the peer closes, vanishes or the task is cancelled.
func serve(_ connection: TCPStream, buffers: BufferMode, replies: ReplyMode = .forwarded) async {
    do {
        try connection.setNoDelay(true)
        // Queued replies: the task goes straight back to receiving (one task resumption per
        // message instead of two), and the core sends on its own, in order.
        let queue = replies == .awaited ? nil : try connection.sendQueue()
        switch buffers {
        case .provided where replies == .forwarded:
            var chunks = try connection.receivedChunks().makeAsyncIterator()
            _ = try await chunks.forward(to: queue!)
        case .provided:
            // What has arrived goes back in one gathered write: a 64 KiB message lands in
            // four 16 KiB buffers, and one send for the four costs a quarter of four sends.
            var chunks = try connection.receivedChunks().makeAsyncIterator()
            while true {
                let batch = try await chunks.nextBatch()
                if batch.isEmpty { break }
                if let queue {
                    try await batch.count > 1 ? queue.send(batch) : queue.send(batch[0])
                } else if batch.count > 1 {
                    try await connection.writeAll(batch)
                } else {
                    try await connection.writeAll(batch[0])
                }
            }
        case .owned:
            var buffer = IOBuffer(capacity: 16 << 10)
            while true {
                buffer.clear()
                let received = try await connection.read(into: buffer)
                if received == 0 { break }
                // A queue copies the bytes, so the buffer is free for the next read at once.
                if let queue { try await queue.send(buffer) } else { try await connection.writeAll(buffer) }
                // A read that filled the buffer says more was waiting: read 4x as much at once
                // from now on, up to 256 KiB (each read and send costs a completion and a
                // wake-up of its own; SwiftNIO's adaptive allocator grows the same way). A
                // connection of small messages keeps its 16 KiB.
                if received == buffer.capacity, buffer.capacity < 256 << 10 { buffer = IOBuffer(capacity: buffer.capacity * 4) }
            }
        }
        try await queue?.flush()
        // Half-close from the peer: finish our side too.
        try await connection.shutdown(.write)
    } catch {
        // A client that vanished mid-message (reset, broken pipe) or shutdown: nothing to do.
    }
    try? await connection.close()
}

func printError(_ message: String) {
    writeWhole(message + "\n", to: STDERR_FILENO)
}

/// Raises the soft descriptor limit to the hard one; returns the limit now in force.
@discardableResult
func raiseDescriptorLimit() -> UInt64 {
    var limit = rlimit()
    // getrlimit of a valid resource cannot fail; a refused raise leaves the soft limit in force.
    guard (try? systemCall("getrlimit") { getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit) }) != nil else { return 0 }
    if limit.rlim_cur < limit.rlim_max {
        let soft = limit.rlim_cur
        limit.rlim_cur = limit.rlim_max
        do {
            _ = try systemCall("setrlimit") { setrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit) }
        } catch {
            printError("torus-echo: cannot raise the descriptor limit from \(soft) to \(limit.rlim_max): \(error)")
            return UInt64(soft)
        }
    }
    return UInt64(limit.rlim_cur)
}
