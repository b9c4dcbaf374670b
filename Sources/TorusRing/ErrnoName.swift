internal import CUring
import SystemPackage

extension Errno {
    /// The symbolic name (`EIO`, `ECANCELED`, ...) from the C library's own table
    /// (`strerrorname_np`), or `errno N` for a code it does not know.
    public var symbolicName: String {
        guard let name = torus_errno_name(rawValue) else { return "errno \(rawValue)" }
        return String(cString: name)
    }
}
