import Glibc
import SystemPackage

/// Runs a shim call that returns a count or 0 on success and `-errno` on failure, again while
/// it is interrupted by a signal (`EINTR`); any other failure is thrown.
func retryingInterrupted(_ call: () -> Int) throws(Errno) -> Int {
    while true {
        let result = call()
        if result >= 0 { return result }
        if result != -Int(EINTR) { throw Errno(rawValue: Int32(-result)) }
    }
}
