import Glibc
import TorusRing

/// A joinable OS thread running a closure. Torus's core threads and blocking-pool workers.
struct OSThread: @unchecked Sendable {
    // @unchecked: pthread_t is an integer handle; joining is done by exactly one owner.
    let handle: pthread_t

    /// Starts `body` on a new thread named `name` (at most 15 bytes are kept by the kernel).
    static func start(name: String, _ body: @escaping @Sendable () -> Void) -> OSThread? {
        let box = Unmanaged.passRetained(ThreadStart(name: name, body: body)).toOpaque()
        var handle = pthread_t()
        // Pitfall from the research notes: a closure literal here traps when called from
        // top-level code, so the entry point is a global function.
        let result = pthread_create(&handle, nil, torusThreadEntry, box)
        if result != 0 {
            Unmanaged<ThreadStart>.fromOpaque(box).release()
            return nil
        }
        return OSThread(handle: handle)
    }

    /// Waits for the thread to finish.
    func join() { pthread_join(handle, nil) }

    /// Lets the thread's resources go when it finishes, for a thread nobody will join.
    func detach() { pthread_detach(handle) }

    /// Whether the calling thread is this one.
    var isCurrent: Bool { pthread_equal(pthread_self(), handle) != 0 }
}

final class ThreadStart {
    let name: String
    let body: @Sendable () -> Void
    init(name: String, body: @escaping @Sendable () -> Void) {
        self.name = name
        self.body = body
    }
}

private func torusThreadEntry(_ argument: UnsafeMutableRawPointer?) -> UnsafeMutableRawPointer? {
    let start = Unmanaged<ThreadStart>.fromOpaque(argument!).takeRetainedValue()
    ThreadName.setForCurrentThread(start.name)
    start.body()
    return nil
}
