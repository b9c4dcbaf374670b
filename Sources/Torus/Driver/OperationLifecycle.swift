/// Where one operation slot is in its life, and the only moves it can make.
///
/// | from | transition | to |
/// |---|---|---|
/// | free | reserve | reserved |
/// | reserved | submit | inFlight |
/// | reserved, cancelRequested | requestCancel | cancelRequested (action: none) |
/// | reserved, cancelRequested | release | free |
/// | inFlight, cancelWaiting | requestCancel | cancelSent (action: sendCancel) |
/// | cancelSent | requestCancel | cancelSent (action: none) |
/// | cancelSent | cancelNotSent | cancelWaiting |
/// | inFlight, cancelSent, cancelWaiting | complete(more: true) | unchanged |
/// | inFlight, cancelSent, cancelWaiting | complete(more: false) | free |
///
/// `reserved` and `cancelRequested` have no SQE yet: the submitter looks at the state before it
/// prepares one and, finding `cancelRequested`, releases the slot instead (nothing reaches the
/// kernel). `inFlight` covers an SQE waiting in the submission queue as well as one the kernel
/// holds: an `ASYNC_CANCEL` queued behind it reaches it either way, so the driver does not tell
/// the two apart (doing so would cost a walk of the queued slots at every `io_uring_enter`).
/// A final completion frees the slot at once (there is no lasting "completed" state: the waiter
/// and keep-alive are handed out in the same step), from `inFlight`, `cancelSent` or
/// `cancelWaiting` alike. A completion with `IORING_CQE_F_MORE` leaves the state as it is.
///
/// Each transition is a mutating method; where the driver has something to decide, it returns
/// it (``requestCancel()`` whether to queue an `ASYNC_CANCEL`, ``complete(more:)`` whether the
/// slot is free). A move the table does not allow traps, naming the transition and the state it
/// was attempted from: it proves a bug in the driver.
enum OperationLifecycle: UInt8, Equatable, CustomStringConvertible {
    /// Not in use; on the free list.
    case free
    /// Taken by an operation whose SQE is not prepared yet.
    case reserved
    /// Cancelled before its SQE was prepared: it must never be submitted.
    case cancelRequested
    /// Its SQE is in the ring (queued or in the kernel); a completion is due.
    case inFlight
    /// In flight, and an `ASYNC_CANCEL` for it is queued.
    case cancelSent
    /// In flight and cancelled, but no SQE was free for the `ASYNC_CANCEL`: retried next turn.
    case cancelWaiting

    /// What a cancel request asks of the driver.
    enum CancelAction: Equatable {
        /// Nothing to queue: not submitted yet (the submitter will refuse it) or a cancel is
        /// already on its way.
        case none
        /// Queue an `ASYNC_CANCEL` for the operation now.
        case sendCancel
    }

    var description: String {
        switch self {
        case .free: "free"
        case .reserved: "reserved"
        case .cancelRequested: "cancelRequested"
        case .inFlight: "inFlight"
        case .cancelSent: "cancelSent"
        case .cancelWaiting: "cancelWaiting"
        }
    }

    /// Whether a completion is due (the kernel has, or is about to get, the SQE).
    var isSubmitted: Bool {
        switch self {
        case .inFlight, .cancelSent, .cancelWaiting: true
        case .free, .reserved, .cancelRequested: false
        }
    }

    /// free -> reserved.
    @inline(__always) mutating func reserve() {
        guard self == .free else { invalid("reserve") }
        self = .reserved
    }

    /// reserved -> inFlight: the SQE has been prepared. A cancelled reservation must be
    /// released, not submitted.
    @inline(__always) mutating func submit() {
        guard self == .reserved else { invalid("submit") }
        self = .inFlight
    }

    /// A cancel was asked for.
    @inline(__always) mutating func requestCancel() -> CancelAction {
        switch self {
        case .reserved, .cancelRequested:
            self = .cancelRequested
            return .none
        case .inFlight, .cancelWaiting:
            self = .cancelSent
            return .sendCancel
        case .cancelSent:
            return .none
        case .free:
            invalid("requestCancel")
        }
    }

    /// cancelSent -> cancelWaiting: no SQE could be had for the `ASYNC_CANCEL`.
    mutating func cancelNotSent() {
        guard self == .cancelSent else { invalid("cancelNotSent") }
        self = .cancelWaiting
    }

    /// A completion arrived. Returns whether it was the final one (the slot is then free).
    @inline(__always) mutating func complete(more: Bool) -> Bool {
        guard isSubmitted else { invalid("complete") }
        if more { return false }
        self = .free
        return true
    }

    /// reserved or cancelRequested -> free: the operation gave up before its SQE was prepared.
    @inline(__always) mutating func release() {
        guard self == .reserved || self == .cancelRequested else { invalid("release") }
        self = .free
    }

    @inline(never)
    private func invalid(_ transition: StaticString) -> Never {
        preconditionFailure("operation lifecycle: \(transition) is not allowed in state \(self)")
    }
}
