import Glibc
import TorusChannels

/// A core's ring timers, as the channels and synchronization module sees them: deadline scopes
/// and `select` timers arm them on the core of the waiting task (TorusChannels has no ring of its
/// own; see ``RuntimeThreadTimers``).
extension Core: RuntimeThreadTimers {
    package func armTimer(after duration: Duration, _ handler: @escaping (_ fired: Bool) -> Void) -> UInt64 {
        armCallbackTimer(after: duration) { result in handler(result != -ECANCELED) }.userData
    }

    package func cancelTimer(_ id: UInt64) {
        cancelOperation(OperationID(userData: id))
    }
}
