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
}

/// The process's CPUs as the first thread to ask saw them (see ``Runtime/allowedCPUs``).
let processAllowedCPUs: [Int] = CPUAffinity.allowedCPUs()
