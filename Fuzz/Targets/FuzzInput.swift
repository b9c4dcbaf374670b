// Shared by every fuzz target: reading choices out of libFuzzer's bytes.

/// Takes small decisions (limits, split points) from the front of the input and leaves the
/// rest as data, so that libFuzzer's mutations of one part do not reshuffle the other.
struct FuzzInput {
    private var bytes: UnsafeRawBufferPointer
    private var state: UInt64

    init(_ data: UnsafePointer<UInt8>?, _ size: Int) {
        bytes = size > 0 ? UnsafeRawBufferPointer(start: data, count: size) : UnsafeRawBufferPointer(start: nil, count: 0)
        state = 0x9E37_79B9_7F4A_7C15
    }

    /// One byte from the front (0 when none is left).
    mutating func byte() -> UInt8 {
        guard let first = bytes.first else { return 0 }
        bytes = UnsafeRawBufferPointer(rebasing: bytes.dropFirst())
        return first
    }

    /// Seeds `next()` from a few bytes of the front.
    mutating func seed() {
        for _ in 0..<4 { state = (state ^ UInt64(byte())) &* 0x100_0000_01B3 }
    }

    /// A value from a splitmix64 generator: many split points from a 4-byte seed.
    mutating func next(below bound: Int) -> Int {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        z ^= z >> 31
        return Int(z % UInt64(max(bound, 1)))
    }

    /// What is left.
    var rest: [UInt8] { Array(bytes) }
}

/// Stops the process with a message libFuzzer records with the input (a failed property).
func fuzzCheck(_ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String) {
    if !condition() { fatalError("property violated: \(message())") }
}
