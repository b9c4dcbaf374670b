/// How much output a client may have waiting before it is disconnected: redis's
/// `client-output-buffer-limit` for one client class.
///
/// A client over `hard` bytes is disconnected at once; one over `soft` bytes for `softSeconds`
/// in a row too. Zero turns a limit off. Redis's default for pubsub clients, used here, is
/// 32 MB hard and 8 MB for 60 seconds (normal clients are unlimited).
public struct OutputBufferLimit: Sendable, Equatable, CustomStringConvertible {
    public var hard: Int
    public var soft: Int
    public var softSeconds: Int

    public init(hard: Int, soft: Int, softSeconds: Int) {
        self.hard = hard
        self.soft = soft
        self.softSeconds = softSeconds
    }

    /// Redis's default for pubsub clients: `32mb 8mb 60`.
    public static let pubsub = OutputBufferLimit(hard: 32 << 20, soft: 8 << 20, softSeconds: 60)
    /// No limit.
    public static let unlimited = OutputBufferLimit(hard: 0, soft: 0, softSeconds: 0)

    /// Parses redis's form, `"32mb 8mb 60"` (sizes in ``parseMemorySize(_:)`` units).
    public init?(parsing text: String) {
        let parts = text.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
        guard parts.count == 3, let hard = parseMemorySize(parts[0]), let soft = parseMemorySize(parts[1]),
            let seconds = Int(parts[2]), seconds >= 0
        else { return nil }
        self.init(hard: hard, soft: soft, softSeconds: seconds)
    }

    public var description: String { "\(hard) \(soft) \(softSeconds)" }
}
