internal import CUring

/// CPU sets for pinning core threads, through `sched_{get,set}affinity` on the calling thread.
public enum CPUAffinity {
    static let words = 16  // 1024 CPUs

    /// The CPUs the calling thread may run on, ascending.
    public static func allowedCPUs() -> [Int] {
        var mask = [UInt64](repeating: 0, count: words)
        let result = mask.withUnsafeMutableBufferPointer { torus_get_thread_affinity($0.baseAddress, UInt(words)) }
        return cpus(in: mask, result: result)
    }

    /// The CPUs the process's main thread may run on, ascending: the process's set, whichever
    /// thread asks. (A thread's own set can be narrower: a core's thread is pinned, and threads
    /// created by a pinned thread inherit its one CPU.)
    public static func mainThreadAllowedCPUs() -> [Int] {
        var mask = [UInt64](repeating: 0, count: words)
        let result = mask.withUnsafeMutableBufferPointer { torus_get_main_thread_affinity($0.baseAddress, UInt(words)) }
        return cpus(in: mask, result: result)
    }

    private static func cpus(in mask: [UInt64], result: Int) -> [Int] {
        guard result > 0 else { return [0] }
        var cpus: [Int] = []
        for word in 0..<words {
            var bits = mask[word]
            while bits != 0 {
                let bit = bits.trailingZeroBitCount
                cpus.append(word * 64 + bit)
                bits &= bits - 1
            }
        }
        return cpus
    }

    /// Pins the calling thread to `cpu`.
    /// - Returns: 0, or the errno (`EINVAL` when the CPU does not exist or is not allowed).
    public static func pinCurrentThread(to cpu: Int) -> Int32 {
        precondition(cpu >= 0 && cpu < words * 64, "CPU \(cpu) is beyond the \(words * 64) Torus supports")
        var mask = [UInt64](repeating: 0, count: words)
        mask[cpu / 64] = 1 << UInt64(cpu % 64)
        let result = mask.withUnsafeBufferPointer { torus_set_thread_affinity($0.baseAddress, UInt(words)) }
        return result < 0 ? Int32(-result) : 0
    }

    /// Lets the calling thread run on any of `cpus` (undoing a pin it inherited).
    /// - Returns: 0, or the errno.
    public static func allowCurrentThread(on cpus: [Int]) -> Int32 {
        var mask = [UInt64](repeating: 0, count: words)
        for cpu in cpus where cpu >= 0 && cpu < words * 64 { mask[cpu / 64] |= 1 << UInt64(cpu % 64) }
        let result = mask.withUnsafeBufferPointer { torus_set_thread_affinity($0.baseAddress, UInt(words)) }
        return result < 0 ? Int32(-result) : 0
    }

    /// The kernel thread id of the caller (`gettid`).
    public static var currentThreadID: Int { torus_gettid() }
}
