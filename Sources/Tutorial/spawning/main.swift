// Tutorial chapter 2, Spawning: tasks and join handles, cancellation, what `sending` and
// `Sendable` do for a task's captures, per-core state, and how many tasks a core can hold.
//
//   tutorial-spawning [TASK_COUNT]      (default 100000)
import Glibc
import Torus

let parkedTaskCount = CommandLine.arguments.dropFirst().first.flatMap { Int($0) } ?? 100_000

// snippet:begin pinned-actor
/// State that belongs to one core. The actor runs on the core's own serial executor, so tasks
/// on that core use it without a thread hop, and what it holds need not be `Sendable`.
actor CoreLocalCache {
    let core: Core
    nonisolated var unownedExecutor: UnownedSerialExecutor { core.asUnownedSerialExecutor() }

    /// A plain class: not Sendable, and it never has to be, since only this actor touches it.
    final class Entry {
        var hits = 0
    }
    private var entries: [String: Entry] = [:]

    init(core: Core) { self.core = core }

    func hit(_ key: String) -> Int {
        let entry = entries[key] ?? Entry()
        entries[key] = entry
        entry.hits += 1
        return entry.hits
    }
}
// snippet:end

/// Resident memory of this process, from /proc/self/statm.
func residentBytes() -> Int {
    guard let file = fopen("/proc/self/statm", "r") else { return 0 }
    defer { fclose(file) }
    var size = 0, resident = 0
    _ = withUnsafeMutablePointer(to: &size) { sizePointer in
        withUnsafeMutablePointer(to: &resident) { residentPointer in
            withVaList([sizePointer, residentPointer]) { vfscanf(file, "%d %d", $0) }
        }
    }
    return resident * Int(sysconf(Int32(_SC_PAGESIZE)))
}

do {
    try Runtime.run {
        // snippet:begin join-handle
        // `spawn` starts the task at once; the handle is how you wait for its value.
        let handle = spawn { () -> String in
            try await sleep(for: .milliseconds(10))
            return "return value"
        }
        // ... do other work while it runs ...
        let out = try await handle.value
        print("GOT \(out)")
        // snippet:end

        // snippet:begin cancel
        // Cancelling a task cancels the ring operation it is waiting on, in the kernel.
        let sleeper = spawn { try await sleep(for: .seconds(60)) }
        sleeper.cancel()
        switch await sleeper.result {
        case .success: print("the sleeper finished?")
        case .failure(let error): print("the sleeper ended with \(type(of: error))")
        }
        // snippet:end

        // snippet:begin captures
        // Values are captured by the task (arrays are copied on write): no lifetime to prove.
        let numbers = [1, 2, 3]
        let printer = spawn { "here's a vec: \(numbers)" }
        print(try await printer.value)

        // A non-Sendable object can be *sent* into a task if the caller never touches it again:
        // the spawn closure is a `sending` parameter, and region isolation checks the rest.
        final class Tally {
            var count = 0
        }
        let tally = Tally()
        let counter = spawn { () -> Int in
            tally.count += 1
            try await sleep(for: .milliseconds(1))   // held across an await: fine, one task owns it
            tally.count += 1
            return tally.count
        }
        print("the task counted to \(try await counter.value)")
        // snippet:end

        // snippet:begin per-core
        let cores = RuntimeHandle.current!.cores
        let caches = cores.map { CoreLocalCache(core: $0) }
        let hits = try await withThrowingTaskGroup(of: Int.self) { group in
            for (core, cache) in zip(cores, caches) {
                group.addTask(executorPreference: core) {
                    var total = 0
                    for _ in 0..<1000 { total = await cache.hit("key") }
                    return total
                }
            }
            return try await group.reduce(0, +)
        }
        print("per-core caches counted \(hits) hits on \(cores.count) cores, no locks")
        // snippet:end

        // snippet:begin how-many
        // How many tasks can one core hold? Park many on a Notify and measure the memory.
        let release = Notify()
        let before = residentBytes()
        let clock = ContinuousClock()
        let start = clock.now
        var parked: [JoinHandle<Void>] = []
        parked.reserveCapacity(parkedTaskCount)
        for _ in 0..<parkedTaskCount {
            parked.append(spawn(on: .core(0)) { try await release.notified() })
        }
        let spawnTime = start.duration(to: clock.now)
        try await sleep(for: .milliseconds(50))   // let every task reach its await
        let perTask = (residentBytes() - before) / parkedTaskCount
        release.notifyAll()
        for task in parked { try await task.value }
        print("\(parkedTaskCount) tasks parked on one core: about \(perTask) bytes each, spawned in \(spawnTime)")
        // snippet:end
    }
} catch {
    print("tutorial-spawning: \(error)")
    exit(1)
}
