// libFuzzer target: torus-cp's size arguments (`--chunk-size 64K`, parseSize in
// Sources/torus-cp/SizeArgument.swift).
//
// Input: the argument text. Properties: it never crashes, and its answer is the one a plain
// reading of its documentation gives (`512`, `64K`, `1M`, `2G`, powers of 1024; nil for
// anything else, a size that overflows included), checked against an independent model that
// reads digits one by one.

/// The documented grammar, written separately: an optional sign, decimal digits, an optional
/// K/M/G (either case).
func modelSize(_ text: String) -> Int? {
    var digits = Substring(text)
    var unit = 1
    switch digits.last {
    case "K", "k": unit = 1 << 10
    case "M", "m": unit = 1 << 20
    case "G", "g": unit = 1 << 30
    default: break
    }
    if unit != 1 { digits = digits.dropLast() }
    var negative = false
    if let sign = digits.first, sign == "-" || sign == "+" {
        negative = sign == "-"
        digits = digits.dropFirst()
    }
    guard !digits.isEmpty else { return nil }
    var value = 0
    for character in digits {
        guard let ascii = character.asciiValue, ascii >= 48, ascii <= 57, character.unicodeScalars.count == 1 else { return nil }
        let (times, overflow1) = value.multipliedReportingOverflow(by: 10)
        let (sum, overflow2) = negative ? times.subtractingReportingOverflow(Int(ascii - 48)) : times.addingReportingOverflow(Int(ascii - 48))
        guard !overflow1, !overflow2 else { return nil }
        value = sum
    }
    let (bytes, overflow) = value.multipliedReportingOverflow(by: unit)
    return overflow ? nil : bytes
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzCopySize(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let bytes = size > 0 ? Array(UnsafeBufferPointer(start: data, count: size)) : []
    let text = String(decoding: bytes, as: UTF8.self)
    let parsed = parseSize(text)
    fuzzCheck(
        parsed == modelSize(text), "parseSize(\(Array(text.utf8))) = \(String(describing: parsed)), documented \(String(describing: modelSize(text)))"
    )
    return 0
}
