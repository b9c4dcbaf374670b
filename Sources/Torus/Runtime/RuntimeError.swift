import Glibc
import TorusRing

/// Errors from starting, using or stopping a ``Runtime``.
public enum RuntimeError: Error, Sendable, CustomStringConvertible {
    /// A core could not create its io_uring; the wrapped error says why and what to do.
    case ringSetup(core: Int, RingSetupError)
    /// `sched_setaffinity` refused to pin a core thread to `cpu`.
    case pinningFailed(cpu: Int, errno: Int32)
    /// The core's eventfd could not be created.
    case doorbellSetup(core: Int, errno: Int32)
    /// `pthread_create` failed for a core or blocking-pool thread.
    case threadStartFailed(name: String)
    /// The configuration cannot work (the message says which field and why).
    case invalidConfiguration(String)
    /// The runtime is shutting down and takes no new work.
    case shuttingDown
    /// An operation that needs a Torus core ran on some other thread.
    case notOnRuntimeThread(operation: String)
    /// Something that belongs to one core (a stream's ``SendQueue``) was used from another.
    case wrongCore(operation: String, owner: Int)

    /// What went wrong, and for a configuration error which field and why.
    public var description: String {
        switch self {
        case .ringSetup(let core, let error):
            return "Torus could not start core \(core): \(error)"
        case .pinningFailed(let cpu, let code):
            return
                "Torus could not pin a core thread to CPU \(cpu): \(String(cString: strerror(code))) (errno \(code)). Use RuntimeConfiguration(pinThreads: false) or a CPU from the allowed set (taskset/cgroup cpuset)."
        case .doorbellSetup(let core, let code):
            return "Torus could not create the eventfd for core \(core): \(String(cString: strerror(code))) (errno \(code))."
        case .threadStartFailed(let name):
            return "Torus could not start thread \(name) (pthread_create failed: check ulimit -u and memory)."
        case .invalidConfiguration(let message):
            return "Invalid Torus runtime configuration: \(message)"
        case .shuttingDown:
            return "The Torus runtime is shutting down and accepts no new work."
        case .notOnRuntimeThread(let operation):
            return "\(operation) must run on a Torus core (inside a task spawned on the runtime), not on another thread."
        case .wrongCore(let operation, let owner):
            return "\(operation) must run on core \(owner), which owns it (spawn the task with `on: .core(\(owner))`)."
        }
    }
}
