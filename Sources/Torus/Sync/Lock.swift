import Glibc

/// A pthread mutex guarding a value: the lock behind every channel and synchronization type.
///
/// Why not `Mutex` from the Synchronization module: its contended path lives in the standard
/// library, which the thread sanitizer does not see, so every `Mutex`-protected access under
/// contention is reported as a race and TSan runs become useless. pthread mutexes are
/// intercepted by TSan, cost the same uncontended, and sleep in the kernel when contended.
@usableFromInline final class Lock<Value>: @unchecked Sendable {
    // @unchecked: `value` is only touched between pthread_mutex_lock and pthread_mutex_unlock.
    @usableFromInline let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    @usableFromInline var value: Value

    @inlinable init(_ value: Value) {
        self.value = value
        pthread_mutex_init(mutex, nil)
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    @inline(__always)
    @inlinable func withLock<R>(_ body: (inout Value) throws -> R) rethrows -> R {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body(&value)
    }
}
