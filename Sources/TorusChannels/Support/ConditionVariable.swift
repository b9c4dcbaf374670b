import Glibc

/// A pthread mutex and condition variable guarding a value: how a plain thread (a sync `main`,
/// a blocking-pool worker) sleeps until another thread hands it something.
@usableFromInline package final class ConditionLock<Value>: @unchecked Sendable {
    // @unchecked: every access to `value` happens with `mutex` held.
    @usableFromInline package let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    @usableFromInline package let condition = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    @usableFromInline package var value: Value

    @inlinable package init(_ value: Value) {
        // A zero-sized `value` (`()`) is laid out at offset 0, where the object header is: an
        // access to it under the lock then aliases the header (isa) that every call of a generic
        // method reads before taking the lock, and ThreadSanitizer reports a race on memory that
        // nobody writes (RuntimeShared's shutdown condition did, issue #13). Hold a value.
        assert(MemoryLayout<Value>.size > 0, "ConditionLock needs a value that takes space")
        self.value = value
        checkPthread(pthread_mutex_init(mutex, nil), "pthread_mutex_init")
        var attributes = pthread_condattr_t()
        checkPthread(pthread_condattr_init(&attributes), "pthread_condattr_init")
        checkPthread(pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC), "pthread_condattr_setclock")
        checkPthread(pthread_cond_init(condition, &attributes), "pthread_cond_init")
        checkPthread(pthread_condattr_destroy(&attributes), "pthread_condattr_destroy")
    }

    deinit {
        checkPthread(pthread_cond_destroy(condition), "pthread_cond_destroy")
        checkPthread(pthread_mutex_destroy(mutex), "pthread_mutex_destroy")
        mutex.deallocate()
        condition.deallocate()
    }

    /// Runs `body` with the lock held and wakes every waiter afterwards.
    @inlinable package func withLockBroadcasting<R>(_ body: (inout Value) throws -> R) rethrows -> R {
        checkPthread(pthread_mutex_lock(mutex), "pthread_mutex_lock")
        defer {
            checkPthread(pthread_cond_broadcast(condition), "pthread_cond_broadcast")
            checkPthread(pthread_mutex_unlock(mutex), "pthread_mutex_unlock")
        }
        return try body(&value)
    }

    /// Runs `body` with the lock held.
    @inlinable package func withLock<R>(_ body: (inout Value) throws -> R) rethrows -> R {
        checkPthread(pthread_mutex_lock(mutex), "pthread_mutex_lock")
        defer { checkPthread(pthread_mutex_unlock(mutex), "pthread_mutex_unlock") }
        return try body(&value)
    }

    /// Waits until `ready` returns a result, then returns it (lock held while evaluating).
    /// With a `deadline` (CLOCK_MONOTONIC nanoseconds) it returns nil when the time is up.
    @inlinable package func wait<R>(deadlineNanoseconds deadline: UInt64? = nil, until ready: (inout Value) -> R?) -> R? {
        checkPthread(pthread_mutex_lock(mutex), "pthread_mutex_lock")
        defer { checkPthread(pthread_mutex_unlock(mutex), "pthread_mutex_unlock") }
        while true {
            if let result = ready(&value) { return result }
            if let deadline {
                var time = timespec(tv_sec: Int(deadline / 1_000_000_000), tv_nsec: Int(deadline % 1_000_000_000))
                if pthread_cond_timedwait(condition, mutex, &time) == ETIMEDOUT {
                    return ready(&value)
                }
            } else {
                checkPthread(pthread_cond_wait(condition, mutex), "pthread_cond_wait")
            }
        }
    }
}

/// `CLOCK_MONOTONIC` now, in nanoseconds.
@inlinable package func monotonicNanoseconds() -> UInt64 {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
}

extension Duration {
    /// Whole nanoseconds, clamped to be non-negative and to `Int64.max` (some 292 years), so
    /// that any duration a caller passes converts without trapping.
    package var clampedNanoseconds: UInt64 {
        let (seconds, attoseconds) = components
        if seconds < 0 || (seconds == 0 && attoseconds < 0) { return 0 }
        let (whole, overflow) = UInt64(seconds).multipliedReportingOverflow(by: 1_000_000_000)
        if overflow || whole > UInt64(Int64.max) - 1_000_000_000 { return UInt64(Int64.max) }
        return whole + UInt64(attoseconds / 1_000_000_000)
    }
}
