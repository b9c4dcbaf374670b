import Glibc

/// Checks the result of a pthread call that can only fail through misuse (an uninitialised or
/// destroyed mutex, a lock not held): such a failure is a bug, not a condition to handle.
@inlinable @inline(__always)
package func checkPthread(_ result: Int32, _ call: StaticString) {
    if result != 0 { preconditionFailure("\(call) failed: \(result)") }
}
