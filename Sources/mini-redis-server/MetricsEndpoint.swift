import Logging
import Torus

/// The `--metrics-port` endpoint: a tiny HTTP/1.1 server answering `GET /metrics` with the
/// Prometheus text format, one request per connection.
///
/// It shares nothing with the redis port but the runtime: its own listener, its own tasks, a
/// bound on everything a client controls (head size, time to send it, connections at once),
/// so a hostile or stuck scraper costs a few KiB and a timer, never a redis client's turn.
struct MetricsEndpoint: Sendable {
    /// Time a client gets to send its whole request head.
    static let readTimeout = Duration.seconds(5)
    /// Connections served at once; more are closed at accept (a scraper retries).
    static let maxConnections = 16

    let listener: TCPListener
    let exposition: PrometheusExposition
    let logger: Logger

    /// Binds `address` (port 0: an ephemeral one; ``address`` says which).
    init(binding address: SocketAddress, exposition: PrometheusExposition, logger: Logger) throws {
        listener = try TCPListener.bind(address, backlog: 64)
        self.exposition = exposition
        self.logger = logger
    }

    /// The bound address.
    var address: SocketAddress { get throws { try listener.localAddress } }

    /// Accepts and serves until cancelled; each connection is a child task, cancelled with it.
    func run() async throws {
        let slots = AsyncSemaphore(permits: Self.maxConnections)
        try await withThrowingDiscardingTaskGroup { group in
            for try await connection in listener.connections(onShortage: { [logger] error in logger.warning("metrics accept: \(error); retrying") }) {
                guard let slot = slots.tryAcquire() else {
                    try? connection.abort()
                    continue
                }
                group.addTask {
                    defer { slot.release() }
                    await serve(connection)
                }
            }
        }
    }

    /// Reads one request head (bounded in size and time), answers it and closes.
    private func serve(_ connection: TCPStream) async {
        let response: HTTPResponse
        switch await readHead(connection) {
        case .head(let head):
            response = await respond(to: MetricsRequest(head: head))
        case .tooLarge:
            response = HTTPResponse(status: "431 Request Header Fields Too Large", body: "request head over \(MetricsRequest.maxHeadSize) bytes\n")
        case .timedOut:
            response = HTTPResponse(status: "408 Request Timeout", body: "request head not received in time\n")
        case .gone:
            try? await connection.close()
            return
        }
        do {
            try await withTimeout(Self.readTimeout) { try await connection.writeAll(response.encoded) }
        } catch {
            logger.debug("metrics client: \(error)")
        }
        await lingeringClose(connection)
    }

    private func respond(to request: MetricsRequest) async -> HTTPResponse {
        switch request {
        case .metrics, .metricsHead:
            var response = HTTPResponse(status: "200 OK", contentType: PrometheusExposition.contentType, body: await exposition.render())
            response.omitsBody = request == .metricsHead
            return response
        case .notFound: return HTTPResponse(status: "404 Not Found", body: "only /metrics is here\n")
        case .methodNotAllowed:
            var response = HTTPResponse(status: "405 Method Not Allowed", body: "only GET and HEAD\n")
            response.extraHeaders = "Allow: GET, HEAD\r\n"
            return response
        case .malformed: return HTTPResponse(status: "400 Bad Request", body: "not an HTTP/1.x request line\n")
        }
    }

    private enum HeadOutcome {
        case head([UInt8])
        case tooLarge
        case timedOut
        case gone
    }

    /// Reads until the head's blank line, at most ``MetricsRequest/maxHeadSize`` bytes, for at
    /// most ``readTimeout``.
    private func readHead(_ connection: TCPStream) async -> HeadOutcome {
        do {
            return try await withTimeout(Self.readTimeout) {
                let buffer = IOBuffer(capacity: 2 << 10)
                var received: [UInt8] = []
                while true {
                    buffer.clear()
                    let count = try await connection.read(into: buffer, maxLength: buffer.capacity)
                    if count == 0 { return .gone }
                    received += buffer.bytes
                    if let end = MetricsRequest.headEnd(in: received), end <= MetricsRequest.maxHeadSize {
                        return .head(Array(received[..<end]))
                    }
                    if received.count > MetricsRequest.maxHeadSize { return .tooLarge }
                }
            }
        } catch is TimeoutError {
            return .timedOut
        } catch {
            // Reset, or the server is shutting down.
            return .gone
        }
    }

    /// Half-closes, then drains what the client still sends (bounded) before closing, so that
    /// it reads the response instead of a reset (closing with unread bytes sends an RST).
    private func lingeringClose(_ connection: TCPStream) async {
        do {
            try await connection.shutdown(.write)
            try await withTimeout(.seconds(1)) {
                let sink = IOBuffer(capacity: 16 << 10)
                var drained = 0
                while drained < 1 << 20 {
                    sink.clear()
                    let count = try await connection.read(into: sink, maxLength: sink.capacity)
                    if count == 0 { break }
                    drained += count
                }
            }
        } catch {
            // Timed out, reset or cancelled: close anyway.
        }
        try? await connection.close()
    }
}

/// One HTTP/1.1 response; every one closes its connection.
struct HTTPResponse {
    var status: String
    var contentType = "text/plain; charset=utf-8"
    var body: [UInt8]
    var extraHeaders = ""
    /// A response to HEAD: the headers (with the body's length) only.
    var omitsBody = false

    init(status: String, contentType: String = "text/plain; charset=utf-8", body: [UInt8]) {
        self.status = status
        self.contentType = contentType
        self.body = body
    }

    init(status: String, body: String) {
        self.init(status: status, body: Array(body.utf8))
    }

    var encoded: [UInt8] {
        let head = "HTTP/1.1 \(status)\r\nContent-Type: \(contentType)\r\nContent-Length: \(body.count)\r\n\(extraHeaders)Connection: close\r\n\r\n"
        return Array(head.utf8) + (omitsBody ? [] : body)
    }
}
