/// Why a value could not be sent. The value is handed back.
public struct SendError<Value: Sendable>: Error {
    /// Why the send failed.
    public enum Reason: Sendable, Equatable {
        /// The receiving side is gone or closed.
        case closed
        /// The sending task was cancelled while it waited for room.
        case cancelled
    }

    /// Why the send failed.
    public var reason: Reason
    /// The value that was not sent.
    public var value: Value

    /// A send failure for `value`, handed back to the sender.
    @inlinable public init(reason: Reason, value: Value) {
        self.reason = reason
        self.value = value
    }
}

/// Why ``MPSC/Sender/trySend(_:)`` did not send. The value is handed back.
public enum TrySendError<Value: Sendable>: Error {
    /// The channel is at capacity.
    case full(Value)
    /// The receiving side is gone or closed.
    case closed(Value)

    /// The value that was not sent.
    @inlinable public var value: Value {
        switch self {
        case .full(let value), .closed(let value): value
        }
    }
}

/// The result of a non-waiting receive.
public enum TryReceiveResult<Value: Sendable>: Sendable {
    /// A value was waiting.
    case value(Value)
    /// Nothing is queued, but senders remain.
    case empty
    /// Nothing is queued and nothing more will come.
    case closed
}
