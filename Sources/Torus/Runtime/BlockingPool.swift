import TorusChannels
import TorusRing

/// A bounded pool of plain threads for work that blocks (``spawnBlocking(_:)``).
///
/// Threads are started on demand up to `maxThreads`, linger `keepAlive` when idle, then exit.
/// A core that awaits blocking work just suspends the task; the result comes back through the
/// core's mailbox, so the core keeps running its other tasks meanwhile.
final class BlockingPool: Sendable {
    private struct State {
        var queue = RingBuffer<@Sendable () -> Void>()
        var idle = 0
        var live = 0
        var closed = false
        var threads: [UInt64: OSThread] = [:]
        var exited: [OSThread] = []
        var nextThreadID: UInt64 = 0

        var pending: Int { queue.count }
    }

    private let state = ConditionLock(State())
    private let maxThreads: Int
    private let keepAliveNanoseconds: UInt64

    init(maxThreads: Int, keepAlive: Duration) {
        self.maxThreads = maxThreads
        self.keepAliveNanoseconds = keepAlive.clampedNanoseconds
    }

    /// Queues `work`; returns false when the pool has been shut down.
    func submit(_ work: @escaping @Sendable () -> Void) -> Bool {
        var startThread: UInt64?
        let accepted: Bool = state.withLockBroadcasting { state in
            guard !state.closed else { return false }
            state.queue.append(work)
            if state.idle < state.pending && state.live < maxThreads {
                state.live += 1
                state.nextThreadID += 1
                startThread = state.nextThreadID
            }
            return true
        }
        if let id = startThread { startWorker(id) }
        joinExited()
        return accepted
    }

    private func startWorker(_ id: UInt64) {
        let thread = OSThread.start(name: "torus-blocking") { [self] in
            // A thread inherits its creator's CPU set, and a worker is usually started from a
            // core, pinned to one CPU: blocking work (torus-cp's copy_file_range calls, one per
            // CPU) then all ran on that CPU. Workers run on every CPU the process may use.
            _ = CPUAffinity.allowCurrentThread(on: processAllowedCPUs)
            work(id)
        }
        state.withLockBroadcasting { state in
            if let thread {
                state.threads[id] = thread
            } else {
                state.live -= 1
            }
        }
    }

    private func work(_ id: UInt64) {
        while true {
            let deadline = monotonicNanoseconds() + keepAliveNanoseconds
            state.withLock { $0.idle += 1 }
            let next: (@Sendable () -> Void)? =
                state.wait(deadlineNanoseconds: deadline) { state in
                    if let work = state.queue.popFirst() { return .some(work) }
                    if state.closed { return .some(nil) }
                    return nil
                } ?? nil
            state.withLock { $0.idle -= 1 }
            guard let next else { break }
            next()
        }
        state.withLockBroadcasting { state in
            state.live -= 1
            if let me = state.threads.removeValue(forKey: id) { state.exited.append(me) }
        }
    }

    private func joinExited() {
        let exited = state.withLock { state -> [OSThread] in
            defer { state.exited.removeAll() }
            return state.exited
        }
        for thread in exited where !thread.isCurrent { thread.join() }
    }

    /// Stops taking work, lets queued and running work finish, and joins every thread.
    func shutdown() {
        state.withLockBroadcasting { $0.closed = true }
        _ = state.wait { state in state.live == 0 ? true : nil }
        let threads = state.withLock { state -> [OSThread] in
            defer {
                state.exited.removeAll()
                state.threads.removeAll()
            }
            return state.exited + Array(state.threads.values)
        }
        for thread in threads { thread.join() }
    }

    /// Threads alive now (for tests and statistics).
    var threadCount: Int { state.withLock { $0.live } }

    /// Threads alive, those of them waiting for work, and work queued that no thread has
    /// taken yet, read together under the pool's lock (``RuntimeHandle/metrics()``).
    var load: (threads: Int, idle: Int, queued: Int) {
        state.withLock { ($0.live, $0.idle, $0.pending) }
    }
}
