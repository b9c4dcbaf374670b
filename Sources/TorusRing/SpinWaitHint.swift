internal import CUring

/// A spin-wait hint for a busy-polling loop (x86 `PAUSE`, Arm `YIELD`): lets a sibling
/// hyperthread run and keeps the loop from flooding the memory system with speculative loads
/// of the word it watches.
@inline(__always)
public func spinWaitHint() { torus_cpu_relax() }
