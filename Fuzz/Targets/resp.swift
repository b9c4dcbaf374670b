// libFuzzer target: MiniRedis's request parser (RequestParser over FrameParser).
//
// Input: 1 byte picks the limits, 4 bytes seed the split points, the rest is what a client
// sends. The bytes are fed as a connection delivers them, in reads cut at random points, the
// way FrameReader does (parse, drop what was consumed, read more). Properties:
// - it never crashes (out-of-bounds access, overflow, unbounded recursion: the sanitizers and
//   Swift's checks stop the process);
// - it never accepts over-limit input: no word longer than maxBulkLength, no array over
//   maxArrayCount, no inline line over maxLineLength, and a request still incomplete while
//   more than maxRequestSize of its bytes are buffered is refused;
// - it always makes progress (a returned request consumed bytes);
// - how the bytes are split does not change what is parsed: the requests equal those of the
//   same bytes parsed from one buffer, up to the first error of either.

struct ParseRun: Equatable {
    var requests: [FrameParser.Request] = []
    var error: ProtocolError?
}

func parseStream(_ stream: [UInt8], cuts: [Int], limits: FrameParser, maxRequestSize: Int) -> ParseRun {
    var parser = RequestParser(limits: limits, maxRequestSize: maxRequestSize)
    var run = ParseRun()
    var buffer: [UInt8] = []
    var delivered = 0  // bytes of `stream` moved into `buffer`
    var requestStart = 0  // offset in `stream` where the request being parsed began
    var dropped = 0  // offset in `stream` of buffer[0]
    for end in cuts + [stream.count] where end > delivered {
        buffer += stream[delivered..<end]
        delivered = end
        while true {
            let result = buffer.withUnsafeBytes { raw in
                Result { () throws(ProtocolError) in try parser.parse(raw) }
            }
            let request: FrameParser.Request?
            let consumed: Int
            switch result {
            case .failure(let error):
                run.error = error
                return run
            case .success(let value):
                (request, consumed) = value
            }
            fuzzCheck(consumed >= 0 && consumed <= buffer.count, "consumed \(consumed) of \(buffer.count)")
            buffer.removeFirst(consumed)
            dropped += consumed
            guard let request else {
                // Incomplete: what is buffered of this request must be within the limit. An
                // empty or null array skipped at the front begins the request later.
                if !parser.isInsideRequest { requestStart = dropped }
                requestStart = skippingEmptyArrays(stream, from: requestStart, to: delivered)
                fuzzCheck(
                    delivered - requestStart <= maxRequestSize,
                    "incomplete request of \(delivered - requestStart) bytes kept (limit \(maxRequestSize))")
                break
            }
            fuzzCheck(consumed > 0, "a request from no bytes")
            switch request {
            case .words(let words):
                fuzzCheck(!words.isEmpty && words.count <= limits.maxArrayCount, "\(words.count) words")
                for word in words { fuzzCheck(word.count <= limits.maxBulkLength, "word of \(word.count) bytes") }
            case .frame(let frame):
                // Arrays starting with `*` are words; a frame array is an inline command, whose
                // words are bounded by its line (as in redis), not by maxBulkLength.
                if case .array(let words) = frame {
                    for case .bulk(let word) in words { fuzzCheck(word.count < limits.maxLineLength, "inline word of \(word.count) bytes") }
                } else {
                    checkFrame(frame, limits: limits, depth: 0)
                }
            }
            run.requests.append(request)
            requestStart = dropped
        }
    }
    return run
}

/// Where the next request really begins: after any `*0` / `*-1` headers, which redis and the
/// parser skip without a reply (and do not count against the request size).
func skippingEmptyArrays(_ stream: [UInt8], from start: Int, to end: Int) -> Int {
    var index = start
    while index < end, stream[index] == UInt8(ascii: "*") {
        var lineEnd = index + 1
        while lineEnd + 1 < end, stream[lineEnd] != 13 { lineEnd += 1 }
        guard lineEnd + 1 < end, stream[lineEnd + 1] == 10,
            let count = Int(String(decoding: stream[(index + 1)..<lineEnd], as: UTF8.self)),
            count == 0 || count == -1
        else { break }
        index = lineEnd + 2
    }
    return index
}

func checkFrame(_ frame: Frame, limits: FrameParser, depth: Int) {
    fuzzCheck(depth <= limits.maxDepth, "frame nested \(depth) deep")
    switch frame {
    case .bulk(let bytes): fuzzCheck(bytes.count <= limits.maxBulkLength, "bulk of \(bytes.count)")
    case .array(let elements):
        fuzzCheck(elements.count <= max(limits.maxArrayCount, limits.maxLineLength), "array of \(elements.count)")
        for element in elements { checkFrame(element, limits: limits, depth: depth + 1) }
    default: break
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzRESP(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    var input = FuzzInput(data, size)
    // Small limits, so that the fuzzer reaches them: every bound is a few bytes away.
    let choice = input.byte()
    var limits = FrameParser()
    limits.maxBulkLength = [16, 64, 512 << 20][Int(choice & 3) % 3]
    limits.maxArrayCount = [4, 32, 1 << 20][Int(choice >> 2 & 3) % 3]
    limits.maxLineLength = [40, 200, 64 << 10][Int(choice >> 4 & 3) % 3]
    let maxRequestSize = [64, 300, 1 << 30][Int(choice >> 6) % 3]
    input.seed()
    let stream = input.rest
    var cuts: [Int] = []
    if !stream.isEmpty {
        let pieces = input.next(below: 8)
        cuts = (0..<pieces).map { _ in input.next(below: stream.count + 1) }.sorted()
    }
    let split = parseStream(stream, cuts: cuts, limits: limits, maxRequestSize: maxRequestSize)
    let whole = parseStream(stream, cuts: [], limits: limits, maxRequestSize: maxRequestSize)
    // The request-size limit counts what is buffered, which depends on the reads; every other
    // outcome must not.
    let common = min(split.requests.count, whole.requests.count)
    fuzzCheck(split.requests[..<common] == whole.requests[..<common], "split and whole parses differ")
    if split.error == nil && whole.error == nil {
        fuzzCheck(split.requests == whole.requests, "split and whole parses found different requests")
    }
    return 0
}
