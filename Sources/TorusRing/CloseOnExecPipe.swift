internal import CUring
import SystemPackage

/// A new pipe whose ends are close-on-exec from the start (`pipe2(O_CLOEXEC)`, which Swift's
/// Glibc module does not import): (read end, write end).
public func makeCloseOnExecPipe() throws(Errno) -> (readEnd: Int32, writeEnd: Int32) {
    var ends: (Int32, Int32) = (-1, -1)
    let result = withUnsafeMutablePointer(to: &ends) { pointer in
        pointer.withMemoryRebound(to: Int32.self, capacity: 2) { torus_pipe_cloexec($0) }
    }
    if result != 0 { throw Errno(rawValue: -result) }
    return ends
}
