import Torus

extension Place {
    /// A `...at` system call on this place (its directory's descriptor and its name), through
    /// Torus's system-call layer: `EINTR` retried, a failure an `IOError` naming `operation` and
    /// this place's path, fault injection in debug builds.
    /// - Parameter body: the call, given the name as a C string.
    @discardableResult
    func systemCall(_ operation: String, _ body: (UnsafePointer<CChar>) -> Int32) throws(IOError) -> Int32 {
        var outcome: Result<Int32, IOError> = .success(0)
        name.withPlatformString { name in
            outcome = Result { () throws(IOError) in try Torus.systemCall(operation, path: path) { body(name) } }
        }
        return try outcome.get()
    }
}
