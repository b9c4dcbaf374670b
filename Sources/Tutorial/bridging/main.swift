// Tutorial chapter 6, Bridging with sync code: a blocking client wrapping the async one,
// spawning onto a runtime from a plain thread, and a task spawner fed by a channel from a
// GUI-style thread.
//
//   tutorial-bridging [SERVER_ADDRESS]      (default localhost:6379)
import Glibc
import MiniRedis
import Torus

let serverAddress = CommandLine.arguments.dropFirst().first ?? "localhost:6379"

func blockingClientExample() throws {
    // snippet:begin blocking-client
    // Plain synchronous code: no async, no await. The client runs a one-core runtime inside.
    let client = try BlockingClient(connectingTo: serverAddress)
    try client.set("hello", "world")
    let value = try client.get("hello").map { String(decoding: $0, as: UTF8.self) }
    print("blocking client got \(value ?? "nil")")
    // snippet:end
}

// snippet:begin background-tasks
func backgroundTask(_ index: Int) async throws -> Int {
    let milliseconds = 100 - 5 * index
    try await sleep(for: .milliseconds(milliseconds))
    return milliseconds
}

func spawnFromSyncCode() throws {
    let runtime = try Runtime(RuntimeConfiguration(cores: .count(1)))
    // Spawning from a plain thread: the tasks start at once and run on the runtime's core
    // while this thread goes on with its own work.
    let handles = (0..<10).map { index in runtime.handle.spawn { try await backgroundTask(index) } }
    usleep(75_000)
    print("finished time-consuming work on the main thread")
    for (index, handle) in handles.enumerated() {
        let slept = try runtime.block { try await handle.value }
        print("task \(index) slept \(slept) ms")
    }
    runtime.shutdown()
}
// snippet:end

// snippet:begin task-spawner
/// Work a synchronous part of the program (a GUI thread, say) hands to the async part.
struct Job: Sendable {
    let name: String
    let done: Oneshot.Sender<String>
}

/// Owns a runtime; `spawnJob` may be called from any plain thread.
final class TaskSpawner: Sendable {
    private let jobs: MPSC.Sender<Job>
    private let runtime: Runtime

    init() throws {
        runtime = try Runtime(RuntimeConfiguration(cores: .count(1)))
        let (jobs, inbox) = MPSC.bounded(Job.self, capacity: 16)
        self.jobs = jobs
        runtime.handle.spawn {
            for await job in inbox {
                spawn {
                    try await sleep(for: .milliseconds(5))   // the job's async work
                    job.done.send("\(job.name) done on core \(Core.current!.index)")
                }
            }
        }
    }

    /// Blocks the calling thread only while the queue is full (backpressure).
    func spawnJob(_ job: Job) {
        do {
            try jobs.blockingSend(job)
        } catch {
            preconditionFailure("the shared runtime has shut down")
        }
    }

    func shutdown() {
        jobs.finish()
        runtime.shutdown()
    }
}
// snippet:end

func taskSpawnerExample() throws {
    // snippet:begin gui-thread
    let spawner = try TaskSpawner()
    var results: [Oneshot.Receiver<String>] = []
    for index in 0..<3 {
        let (done, result) = Oneshot.channel(String.self)
        spawner.spawnJob(Job(name: "job \(index)", done: done))
        results.append(result)
    }
    for result in results { print(try result.blockingValue()) }
    spawner.shutdown()
    // snippet:end
}

do {
    try spawnFromSyncCode()
    try taskSpawnerExample()
    try blockingClientExample()
} catch {
    print("tutorial-bridging: \(error)")
    print("(is a mini-redis server running at \(serverAddress)? start one with: swift run mini-redis-server)")
    exit(1)
}
