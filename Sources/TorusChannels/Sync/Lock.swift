import Glibc

/// A pthread mutex guarding a value: the lock behind every channel and synchronization type.
///
/// Why not `Mutex` from the Synchronization module: its contended path lives in the standard
/// library, which the thread sanitizer does not see, so every `Mutex`-protected access under
/// contention is reported as a race and TSan runs become useless. pthread mutexes are
/// intercepted by TSan, cost the same uncontended, and sleep in the kernel when contended.
@usableFromInline package final class Lock<Value>: @unchecked Sendable {
    // @unchecked: `value` is only touched between pthread_mutex_lock and pthread_mutex_unlock.
    @usableFromInline package let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    @usableFromInline package var value: Value

    @inlinable package init(_ value: Value) {
        self.value = value
        checkPthread(pthread_mutex_init(mutex, nil), "pthread_mutex_init")
    }

    deinit {
        checkPthread(pthread_mutex_destroy(mutex), "pthread_mutex_destroy")
        mutex.deallocate()
    }

    @inline(__always)
    @inlinable package func withLock<R>(_ body: (inout Value) throws -> R) rethrows -> R {
        checkPthread(pthread_mutex_lock(mutex), "pthread_mutex_lock")
        defer { checkPthread(pthread_mutex_unlock(mutex), "pthread_mutex_unlock") }
        return try body(&value)
    }
}
