/// Parses a size the way redis.conf writes them: a number with an optional unit, `k`/`m`/`g`
/// for powers of 1000 and `kb`/`mb`/`gb` for powers of 1024, any case (`1gb`, `512mb`, `1000`).
/// Returns nil for anything else.
public func parseMemorySize(_ text: String) -> Int? {
    let lowered = text.lowercased()
    let units: [(suffix: String, factor: Int)] = [
        ("kb", 1 << 10), ("mb", 1 << 20), ("gb", 1 << 30), ("k", 1000), ("m", 1_000_000), ("g", 1_000_000_000), ("b", 1),
    ]
    let unit = units.first { lowered.hasSuffix($0.suffix) } ?? ("", 1)
    guard let number = Int(lowered.dropLast(unit.suffix.count)), number >= 0 else { return nil }
    let (size, overflow) = number.multipliedReportingOverflow(by: unit.factor)
    return overflow ? nil : size
}
