import TorusRing

/// Pinning threads that Torus does not own (a load generator, a peer's event loop in a
/// benchmark) the way Torus pins its cores.
public enum ThreadAffinity {
    /// The CPUs the calling thread may run on, ascending (on a Torus core: its one CPU; the
    /// process's set is ``Runtime/allowedCPUs``).
    public static var allowedCPUs: [Int] { CPUAffinity.allowedCPUs() }

    /// Pins the calling thread to `cpu`.
    /// - Throws: ``RuntimeError/pinningFailed(cpu:errno:)`` when the kernel refuses (no such CPU,
    ///   or outside the cgroup's cpuset).
    public static func pinCurrentThread(to cpu: Int) throws(RuntimeError) {
        let result = CPUAffinity.pinCurrentThread(to: cpu)
        if result != 0 { throw .pinningFailed(cpu: cpu, errno: result) }
    }

    /// Lets the calling thread run on every CPU of the process (``Runtime/allowedCPUs``) again.
    ///
    /// Linux threads and child processes inherit their creator's CPU set. A thread that Swift's
    /// global executor creates while a pinned core thread hands it work can inherit that core's
    /// single CPU; a process spawned from such a thread would start confined to it. Call this
    /// before spawning a process from a thread whose history you do not control.
    public static func unpinCurrentThread() throws(RuntimeError) {
        let result = CPUAffinity.allowCurrentThread(on: Runtime.allowedCPUs)
        if result != 0 { throw .pinningFailed(cpu: Runtime.allowedCPUs.first ?? 0, errno: result) }
    }
}

/// The process's CPUs, read once (see ``Runtime/allowedCPUs``) from the main thread's set, not
/// the asking thread's: the first thread to ask may be one that inherited a core's pin (a
/// global-executor thread created by a pinned core thread), and reading its set made a whole
/// test process believe it had one CPU.
let processAllowedCPUs: [Int] = CPUAffinity.mainThreadAllowedCPUs()
