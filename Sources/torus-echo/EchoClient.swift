import Foundation
import Glibc
import Histogram
import Torus

/// What one client run measured.
struct ClientReport: Sendable {
    var messages: UInt64
    var bytes: UInt64
    var seconds: Double
    var latency: Histogram<UInt64>
    var mismatches: UInt64
    /// Messages echoed including the warm-up (for CPU-per-message accounting over the whole run).
    var allMessages: UInt64 = 0

    var messagesPerSecond: Double { Double(messages) / seconds }
    var mebibytesPerSecond: Double { Double(bytes) / seconds / 1_048_576 }

    func microseconds(_ percentile: Double) -> Double { Double(latency.valueAtPercentile(percentile)) / 1000 }

    var table: String {
        String(
            format: "%.0f msg/s  %.2f MiB/s  latency us: p50 %.1f  p99 %.1f  p99.9 %.1f  max %.1f  (%llu messages, %llu mismatched)",
            messagesPerSecond, mebibytesPerSecond, microseconds(50), microseconds(99), microseconds(99.9),
            Double(latency.maxRecorded) / 1000, messages, mismatches)
    }

    var json: String {
        String(
            format:
                #"{"messages":%llu,"bytes":%llu,"seconds":%.3f,"messages_per_second":%.1f,"mib_per_second":%.3f,"latency_us":{"p50":%.2f,"p99":%.2f,"p999":%.2f,"max":%.2f},"mismatches":%llu,"all_messages":%llu}"#,
            messages, bytes, seconds, messagesPerSecond, mebibytesPerSecond, microseconds(50), microseconds(99),
            microseconds(99.9), Double(latency.maxRecorded) / 1000, mismatches, allMessages)
    }
}

/// The load generator: `connections` connections, each keeping `pipeline` messages of `size`
/// bytes in flight, every echoed byte checked.
struct EchoClient: Sendable {
    let address: SocketAddress
    let connections: Int
    let pipeline: Int
    let size: Int
    let duration: Duration
    let warmup: Duration

    static func newHistogram() -> Histogram<UInt64> {
        Histogram<UInt64>(highestTrackableValue: 60_000_000_000, numberOfSignificantValueDigits: .three)
    }

    func run() async throws -> ClientReport {
        let allCores = RuntimeHandle.current!.cores
        let start = ContinuousClock.now
        let measureFrom = start + warmup
        let stopAt = measureFrom + duration
        let reports = try await withThrowingTaskGroup(of: ClientReport.self) { group in
            for index in 0..<connections {
                group.addTask(executorPreference: allCores[index % allCores.count]) {
                    try await self.drive(measureFrom: measureFrom, stopAt: stopAt, seed: UInt64(index))
                }
            }
            var total = ClientReport(messages: 0, bytes: 0, seconds: 0, latency: Self.newHistogram(), mismatches: 0)
            for try await report in group {
                total.messages += report.messages
                total.bytes += report.bytes
                total.mismatches += report.mismatches
                total.allMessages += report.allMessages
                total.latency.add(report.latency)
            }
            return total
        }
        var result = reports
        result.seconds = Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
        return result
    }

    /// One connection: send `pipeline` messages, then for every echo received send the next.
    private func drive(measureFrom: ContinuousClock.Instant, stopAt: ContinuousClock.Instant, seed: UInt64) async throws -> ClientReport {
        let stream = try await TCPStream.connect(to: address, timeout: .seconds(10))
        try stream.setNoDelay(true)
        var report = ClientReport(messages: 0, bytes: 0, seconds: 0, latency: Self.newHistogram(), mismatches: 0)
        var sentAt = RingQueue<ContinuousClock.Instant>()
        var sequence = seed << 40
        let outgoing = IOBuffer(capacity: size)
        let incoming = IOBuffer(capacity: size)
        var expected = [UInt8](repeating: 0, count: size)

        func send() async throws {
            outgoing.clear()
            fill(&expected, sequence: sequence)
            outgoing.append(expected)
            sentAt.append(ContinuousClock.now)
            try await stream.writeAll(outgoing)
            sequence += 1
        }

        var verifySequence = sequence
        for _ in 0..<pipeline { try await send() }
        while true {
            incoming.clear()
            try await stream.readExactly(size, into: incoming)
            let now = ContinuousClock.now
            let sent = sentAt.removeFirst()
            fill(&expected, sequence: verifySequence)
            verifySequence += 1
            let intact = incoming.withUnsafeBytes { received in
                expected.withUnsafeBytes { received.count == $0.count && memcmp(received.baseAddress!, $0.baseAddress!, $0.count) == 0 }
            }
            report.allMessages += 1
            if !intact && now < measureFrom { report.mismatches += 1 }
            if now >= measureFrom {
                report.messages += 1
                report.bytes += UInt64(size)
                if !intact { report.mismatches += 1 }
                let (seconds, attoseconds) = (now - sent).components
                _ = report.latency.record(UInt64(seconds) * 1_000_000_000 + UInt64(attoseconds / 1_000_000_000))
            }
            if now >= stopAt { break }
            try await send()
        }
        try? await stream.close()
        return report
    }
}

/// Message contents: the sequence number, then a pattern derived from it (a word at a time:
/// for 64 KiB messages a byte-at-a-time pattern made the client, not the server, the limit).
func fill(_ bytes: inout [UInt8], sequence: UInt64) {
    var state = sequence &* 0x9E37_79B9_7F4A_7C15 | 1
    bytes.withUnsafeMutableBytes { raw in
        for index in 0..<min(8, raw.count) { raw[index] = UInt8(truncatingIfNeeded: sequence >> (8 * UInt64(index))) }
        var offset = 8
        while offset < raw.count {
            state ^= state << 13
            state ^= state >> 7
            state ^= state << 17
            let word = state.littleEndian
            let length = min(8, raw.count - offset)
            withUnsafeBytes(of: word) { raw.baseAddress!.advanced(by: offset).copyMemory(from: $0.baseAddress!, byteCount: length) }
            offset += length
        }
    }
}

/// A small FIFO.
struct RingQueue<Element> {
    private var items: [Element] = []
    private var head = 0
    mutating func append(_ item: Element) { items.append(item) }
    mutating func removeFirst() -> Element {
        let item = items[head]
        head += 1
        if head > 64 && head * 2 > items.count {
            items.removeFirst(head)
            head = 0
        }
        return item
    }
}
