/// What the metrics endpoint answers to a request head: the least of HTTP/1.1 a Prometheus
/// scraper needs (RFC 9112 request line; headers are read only to find their end).
enum MetricsRequest: Equatable {
    /// `GET /metrics` (a query string is allowed and ignored): the exposition.
    case metrics
    /// `HEAD /metrics`: the exposition's headers only.
    case metricsHead
    /// Another path: 404.
    case notFound
    /// Another method: 405.
    case methodNotAllowed
    /// Not a request line: 400.
    case malformed

    /// The most bytes a request head may take; a longer one is answered 431 (RFC 6585).
    static let maxHeadSize = 8 << 10

    /// Where the head ends in `bytes` (the index just past its blank line), if it has arrived.
    static func headEnd(in bytes: [UInt8]) -> Int? {
        // A line feed that ends an empty line: "\r\n\r\n", or "\n\n" (RFC 9112 lets a
        // server take a bare LF as a line end).
        for index in bytes.indices.dropFirst() where bytes[index] == 10 {
            if bytes[index - 1] == 10 { return index + 1 }
            if index >= 2, bytes[index - 1] == 13, bytes[index - 2] == 10 { return index + 1 }
        }
        return nil
    }

    /// Reads the request line at the start of a complete head.
    init(head: [UInt8]) {
        let lineEnd = head.firstIndex(of: 10) ?? head.endIndex
        var line = head[..<lineEnd]
        if line.last == 13 { line = line.dropLast() }
        let parts = line.split(separator: UInt8(ascii: " "), omittingEmptySubsequences: false)
        guard parts.count == 3, parts[2].starts(with: Array("HTTP/1.".utf8)), let target = parts[1].first, target == UInt8(ascii: "/") else {
            self = .malformed
            return
        }
        let method = String(decoding: parts[0], as: UTF8.self)
        let path = parts[1].split(separator: UInt8(ascii: "?"), maxSplits: 1, omittingEmptySubsequences: false).first ?? []
        let isMetrics = path.elementsEqual("/metrics".utf8)
        switch method {
        case "GET": self = isMetrics ? .metrics : .notFound
        case "HEAD": self = isMetrics ? .metricsHead : .notFound
        default: self = .methodNotAllowed
        }
    }
}
