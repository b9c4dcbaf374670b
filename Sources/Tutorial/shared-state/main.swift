// Tutorial chapter 3, Shared state: a `Mutex` for short critical sections, sharding it, an
// async mutex when the lock must be held across an await, and a task that owns the state.
import Synchronization
import Torus

// snippet:begin mutex-db
/// A key-value table shared by every core. `Mutex` makes it `Sendable`; every critical section
/// is short and synchronous (the compiler refuses an `await` inside `withLock`).
final class SharedTable: Sendable {
    private let table = Mutex<[String: Int]>([:])

    func increment(_ key: String) {
        table.withLock { $0[key, default: 0] += 1 }
    }

    func value(_ key: String) -> Int { table.withLock { $0[key] ?? 0 } }
}
// snippet:end

// snippet:begin sharded
/// The same table split into shards, so cores working on different keys rarely meet on a lock.
final class ShardedTable: Sendable {
    private let shards: [SharedTable]

    init(shardCount: Int) { shards = (0..<shardCount).map { _ in SharedTable() } }

    private func shard(_ key: String) -> SharedTable {
        shards[Int(UInt(bitPattern: key.hashValue) % UInt(shards.count))]
    }

    func increment(_ key: String) { shard(key).increment(key) }
    func value(_ key: String) -> Int { shard(key).value(key) }
}
// snippet:end

// snippet:begin wrapped
/// Keep the lock out of async code altogether: lock only in synchronous methods.
final class CanIncrement: Sendable {
    private let count = Mutex(0)

    func increment() { count.withLock { $0 += 1 } }
    var value: Int { count.withLock { $0 } }
}

func incrementAndDoStuff(_ counter: CanIncrement) async throws {
    counter.increment()
    try await sleep(for: .milliseconds(1))   // no lock is held here
}
// snippet:end

/// Runs `body` `count` times on every core at once and returns how long that took.
func onEveryCore(_ count: Int, _ body: @escaping @Sendable (Int) async throws -> Void) async throws -> Duration {
    let clock = ContinuousClock()
    let start = clock.now
    try await withThrowingTaskGroup(of: Void.self) { group in
        for core in RuntimeHandle.current!.cores {
            group.addTask(executorPreference: core) {
                for index in 0..<count { try await body(index) }
            }
        }
        try await group.waitForAll()
    }
    return start.duration(to: clock.now)
}

do {
    try Runtime.run {
        let cores = RuntimeHandle.current!.cores.count
        let rounds = 200_000

        let table = SharedTable()
        let plain = try await onEveryCore(rounds) { index in table.increment("key\(index % 64)") }
        print("one Mutex:     \(cores) cores x \(rounds) increments in \(plain), key0 = \(table.value("key0"))")

        let sharded = ShardedTable(shardCount: 16)
        let split = try await onEveryCore(rounds) { index in sharded.increment("key\(index % 64)") }
        print("16 shards:     \(cores) cores x \(rounds) increments in \(split), key0 = \(sharded.value("key0"))")

        let counter = CanIncrement()
        _ = try await onEveryCore(10) { _ in try await incrementAndDoStuff(counter) }
        print("CanIncrement:  \(counter.value) increments, no lock held across an await")

        // snippet:begin async-mutex
        // When the lock really must be held across an await (here: a write that must not
        // interleave with another), use the async mutex. Waiters suspend instead of blocking
        // the core, and are served first come, first served.
        let log = AsyncMutex([String]())
        _ = try await onEveryCore(3) { index in
            try await log.withLock { lines in
                lines.append("core \(Core.current!.index) begins \(index)")
                try await sleep(for: .milliseconds(1))
                lines.append("core \(Core.current!.index) ends \(index)")
            }
        }
        let lines = try await log.withLock { $0 }
        let paired = stride(from: 0, to: lines.count, by: 2).allSatisfy { isOneSection(lines[$0], lines[$0 + 1]) }
        print("AsyncMutex:    \(lines.count / 2) critical sections, never interleaved: \(paired)")
        // snippet:end

        // snippet:begin owner-task
        // Or give the state to one task and talk to it with messages: no lock at all.
        enum Request: Sendable {
            case increment(String)
            case read(String, Oneshot.Sender<Int>)
        }
        let (requests, inbox) = MPSC.bounded(Request.self, capacity: 256)
        let owner = spawn {
            var counts: [String: Int] = [:]   // owned by this task alone
            for await request in inbox {
                switch request {
                case .increment(let key): counts[key, default: 0] += 1
                case .read(let key, let reply): reply.send(counts[key] ?? 0)
                }
            }
        }
        _ = try await onEveryCore(1000) { _ in try await requests.send(.increment("visits")) }
        let (reply, answer) = Oneshot.channel(Int.self)
        try await requests.send(.read("visits", reply))
        print("owner task:    visits = \(try await answer.value)")
        requests.finish()
        try await owner.value
        // snippet:end
    }
} catch {
    print("tutorial-shared-state: \(error)")
}

/// Whether `first` and `second` are "core C begins N" and "core C ends N".
func isOneSection(_ first: String, _ second: String) -> Bool {
    let a = first.split(separator: " "), b = second.split(separator: " ")
    return a.count == 4 && b.count == 4 && a[2] == "begins" && b[2] == "ends" && a[1] == b[1] && a[3] == b[3]
}
