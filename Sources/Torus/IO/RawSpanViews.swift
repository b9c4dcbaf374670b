// Read-only `RawSpan` views of received and I/O buffers, so that a parser can read the bytes
// where the kernel put them instead of copying them into an array first. A span borrows the
// buffer object: the compiler keeps the object alive, and a provided buffer out of the ring,
// while the span is in use. What it cannot see is a mutation through the class reference
// (`IOBuffer` is a class: an `append` or a read into it while a span is alive changes the bytes
// under the span), so each view says what must not happen while it is used.
//
// The properties need lifetime dependence (`@_lifetime`), an experimental feature the Torus
// target enables (`Lifetimes`, a plain `enableExperimentalFeature`, accepted in a dependency,
// unlike `unsafeFlags`); on a compiler that does not know it the properties are left out and
// the closure forms, which need nothing, remain.

#if compiler(>=6.2)
    extension ReceivedBuffer {
        /// Calls `body` with the received bytes as a `RawSpan`, without copying them.
        ///
        /// The span is valid only inside `body`: afterwards the provided buffer may go back to the
        /// core's ring and be filled with another connection's bytes (`RawSpan` cannot escape, so
        /// the compiler holds you to it).
        public func withBytes<R: ~Copyable, E: Error>(_ body: (RawSpan) throws(E) -> R) throws(E) -> R {
            // SAFETY: `address` holds `count` received bytes until this object is released, and
            // `self` is alive for the call; the span cannot outlive `body`.
            try body(RawSpan(_unsafeStart: address, byteCount: count))
        }
    }

    extension IOBuffer {
        /// Calls `body` with the valid bytes (`0..<count`) as a `RawSpan`, without copying them.
        ///
        /// The span is valid only inside `body`, and `body` must not change the buffer (no
        /// `append`, `removeFirst`, `clear`, nor a read into it): the span would then show bytes
        /// that moved or are no longer valid.
        public func withBytes<R: ~Copyable, E: Error>(_ body: (RawSpan) throws(E) -> R) throws(E) -> R {
            // SAFETY: `storage` holds `count` valid bytes and is freed only in deinit; `self` is
            // alive for the call, and the span cannot outlive `body`.
            try body(RawSpan(_unsafeStart: storage, byteCount: count))
        }
    }
#endif

#if hasFeature(Lifetimes)
    extension ReceivedBuffer {
        /// The received bytes as a read-only `RawSpan`, without a copy.
        ///
        /// The span borrows this object: while the span is in use the compiler keeps the
        /// `ReceivedBuffer` alive, so its provided buffer stays out of the core's ring and nobody
        /// else's bytes land in it. A copy made with ``bytes`` is only needed to keep the bytes
        /// longer than the chunk.
        public var rawSpan: RawSpan {
            @_lifetime(borrow self)
            get {
                // SAFETY: `address` holds `count` received bytes until this object is released;
                // the span's lifetime is tied to the borrow of `self`, which keeps it alive.
                let span = RawSpan(_unsafeStart: address, byteCount: count)
                return _overrideLifetime(span, borrowing: self)
            }
        }
    }

    extension IOBuffer {
        /// The valid bytes (`0..<count`) as a read-only `RawSpan`, without a copy.
        ///
        /// The span borrows this object, which the compiler keeps alive while the span is in use.
        /// Don't change the buffer meanwhile (``append(_:)``, ``removeFirst(_:)``, ``clear()``, or
        /// an operation reading into it): `IOBuffer` is a class, so the compiler cannot stop it,
        /// and the span would show bytes that moved. Take a new span after a change.
        public var rawSpan: RawSpan {
            @_lifetime(borrow self)
            get {
                // SAFETY: `storage` holds `count` valid bytes and is freed only in deinit; the
                // span's lifetime is tied to the borrow of `self`, which keeps it alive.
                let span = RawSpan(_unsafeStart: storage, byteCount: count)
                return _overrideLifetime(span, borrowing: self)
            }
        }
    }
#endif
