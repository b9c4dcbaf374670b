import Glibc
import SystemPackage

// How Torus makes a system call on the calling thread (a core's or a pool thread): one place
// that retries `EINTR`, turns a failure into an ``IOError`` naming the operation and the path
// or address, and consults ``FaultInjection`` so tests can make any call fail. Ring operations
// have the same rules in `ringIO` (IO/RingIO.swift); the ring layer's own wrappers (TorusRing)
// return `Errno` and are turned into `IOError` by ``reportingIOError(_:path:_:)``.

/// One system call that returns a non-negative result or -1 with `errno`.
///
/// Used by Torus and by the programs of this package (torus-cp, mini-redis), hence `package`.
@inline(__always)
package func systemCall<Result: BinaryInteger>(
    _ operation: String, path: FilePath? = nil, address: SocketAddress? = nil, _ call: () -> Result
) throws(IOError) -> Result {
    try systemCall(operation, path: path, address: address, length: 0) { _ in call() }
}

/// ``systemCall(_:path:address:_:)`` for a read or write of `length` bytes: `call` gets the
/// length to move, which an injected `.short` fault cuts.
@inline(__always)
package func systemCall<Result: BinaryInteger>(
    _ operation: String, path: FilePath? = nil, address: SocketAddress? = nil, length: Int, _ call: (Int) -> Result
) throws(IOError) -> Result {
    while true {
        var length = length
        switch FaultInjection.fault(for: operation, path: path, address: address) {
        case .fail(let error)?:
            if error == .interrupted { continue }
            throw IOError(operation: operation, path: path, address: address, errno: error)
        case .short(let limit)?: length = min(length, limit)
        case nil: break
        }
        let result = call(length)
        if result >= 0 { return result }
        let code = errno
        if code == EINTR { continue }
        if code == EFAULT { trapOnBadAddress(operation) }
        throw IOError(operation: operation, path: path, address: address, errno: Errno(rawValue: code))
    }
}

/// Runs a system call for a `.inline` operation: a cancelled task does not start it (as the
/// ring refuses to), `EINTR` is retried, and a failure becomes an ``IOError`` naming the
/// operation and the path.
func inlineSystemCall(_ operation: String, path: FilePath, _ call: () -> Int) throws -> Int {
    try inlineTransfer(operation, path: path, length: 0) { _ in call() }
}

/// ``inlineSystemCall(_:path:_:)`` for a read or write of `length` bytes: `call` gets the length
/// to move, which an injected `.short` fault (``FaultInjection``) cuts.
func inlineTransfer(_ operation: String, path: FilePath, length: Int, _ call: (Int) -> Int) throws -> Int {
    if Task.isCancelled { throw CancellationError() }
    return try systemCall(operation, path: path, length: length, call)
}

/// ``inlineSystemCall(_:path:_:)`` for calls that report an `Errno` themselves (the ring layer's
/// wrappers of `statx`, `renameat2`, `fallocate`, `copy_file_range`).
func inlineCall<T>(_ operation: String, path: FilePath, _ call: () throws(Errno) -> T) throws -> T {
    if Task.isCancelled { throw CancellationError() }
    if case .fail(let error)? = FaultInjection.fault(for: operation, path: path), error != .interrupted {
        throw IOError(operation: operation, path: path, errno: error)
    }
    return try reportingIOError(operation, path: path, call)
}

/// Runs a call that throws an `Errno`, turning the failure into an ``IOError`` naming the
/// operation and the path (on the core or on the blocking pool).
func reportingIOError<T>(_ operation: String, path: FilePath, _ call: () throws(Errno) -> T) throws -> T {
    do {
        return try call()
    } catch {
        throw IOError(operation: operation, path: path, errno: error)
    }
}

/// `EFAULT` means Torus handed the kernel an address outside its memory: a bug in Torus, never a
/// condition of the environment, and memory may already be corrupt. It stops the process with
/// the call's name (as SwiftNIO's system-call wrapper does) instead of travelling as an error.
@inline(never)
package func trapOnBadAddress(_ operation: String) -> Never {
    preconditionFailure("\(operation): EFAULT: an address passed to the kernel is not mapped (a bug in Torus)")
}
