// The size arguments of torus-cp (`--chunk-size`), in a file of their own so that the fuzz
// target (Fuzz/Targets/cp-size.swift) compiles them without the program's `main`.

/// `512`, `64K`, `1M`, `2G` (powers of 1024); nil for anything else, a size that overflows
/// included.
func parseSize(_ text: String) -> Int? {
    let units: [Character: Int] = ["K": 1 << 10, "k": 1 << 10, "M": 1 << 20, "m": 1 << 20, "G": 1 << 30, "g": 1 << 30]
    guard let last = text.last, let unit = units[last] else { return Int(text) }
    guard let count = Int(text.dropLast()) else { return nil }
    let (bytes, overflow) = count.multipliedReportingOverflow(by: unit)
    return overflow ? nil : bytes
}
