import Glibc

/// What the waits of this module need from the runtime thread they run on: a one-shot timer that
/// calls back on that thread.
///
/// Torus's cores provide it with their ring's timeouts and register themselves when their thread
/// starts (``RuntimeThread/register(_:)``). This module never needs io_uring: off a core (a plain
/// Swift task, this module's own tests) a deadline or a `select` timer is a sleeping task instead.
package protocol RuntimeThreadTimers: AnyObject, Sendable {
    /// Arms a timer that runs `handler` on this thread after `duration`: with `true` when it
    /// fired, `false` when ``cancelTimer(_:)`` stopped it first. Called on this thread.
    func armTimer(after duration: Duration, _ handler: @escaping (_ fired: Bool) -> Void) -> UInt64
    /// Stops a timer ``armTimer(after:_:)`` armed (nothing happens if it already fired).
    func cancelTimer(_ id: UInt64)
}

/// The runtime thread the caller runs on, if any: a Torus core registers itself here.
@usableFromInline package enum RuntimeThread {
    /// The registration of the calling thread: an unretained pointer to a `Registration`, which
    /// the registering core keeps alive for as long as its thread runs.
    private static let key: pthread_key_t = {
        var key = pthread_key_t()
        checkPthread(pthread_key_create(&key, nil), "pthread_key_create")
        return key
    }()

    /// A core's entry in the thread-specific slot (a class, so that the slot holds one pointer
    /// and no existential needs boxing on each lookup).
    package final class Registration: Sendable {
        // unowned(unsafe): the core owns this registration and outlives its thread's use of it.
        unowned(unsafe) let timers: any RuntimeThreadTimers
        package init(_ timers: any RuntimeThreadTimers) { self.timers = timers }
    }

    /// Registers the calling thread as a runtime thread. The caller keeps `registration` alive
    /// for as long as the thread may run this module's code.
    package static func register(_ registration: Registration) {
        // SAFETY: the slot holds an unretained pointer; the caller keeps the object alive.
        checkPthread(pthread_setspecific(key, Unmanaged.passUnretained(registration).toOpaque()), "pthread_setspecific")
    }

    /// The timers of the calling thread, or nil off a runtime thread.
    package static var timers: (any RuntimeThreadTimers)? {
        guard let pointer = pthread_getspecific(key) else { return nil }
        return Unmanaged<Registration>.fromOpaque(pointer).takeUnretainedValue().timers
    }

    /// Whether the caller runs on a runtime thread (where blocking the thread blocks every task
    /// of that core).
    @usableFromInline package static var isRuntimeThread: Bool { pthread_getspecific(key) != nil }
}
