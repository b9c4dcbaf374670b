import Logging

/// How a ``Runtime`` is laid out.
public struct RuntimeConfiguration: Sendable {
    /// Which cores to start.
    public enum Cores: Sendable, Equatable {
        /// One core per CPU the process may run on (its affinity mask). The default.
        case automatic
        /// This many cores, on the first CPUs of the allowed set (wrapping if there are more
        /// cores than CPUs).
        case count(Int)
        /// One core per listed CPU, in order.
        case cpus([Int])
    }

    /// Which cores to start. Default: one per allowed CPU.
    public var cores: Cores
    /// Pin each core thread to its CPU. Default: true.
    public var pinThreads: Bool
    /// Submission queue entries per ring (1...32768, of which at least 16 are used; the
    /// completion queue gets 4x). Default 256.
    public var ringEntries: UInt32
    /// Upper bound on blocking-pool threads (``spawnBlocking(_:)``). Default 64.
    public var maxBlockingThreads: Int
    /// How long an idle blocking-pool thread lingers before exiting. Default 10 s.
    public var blockingThreadKeepAlive: Duration
    /// Provided buffers per core for multishot receives (``TCPStream/receivedChunks()``), a
    /// power of two up to 32,768: what a core registers on its first multishot receive.
    /// Default 1024.
    public var receiveBufferCount: Int
    /// The size of each provided receive buffer. Default 16 KiB.
    public var receiveBufferSize: Int
    /// The most provided receive buffers a core may grow to. When a receive finds no buffer
    /// (`ENOBUFS`) and every one is on loan to the core's connections, the core registers
    /// another buffer group as large as all it has (a power of two; logged at notice level,
    /// counted in ``RuntimeMetrics/CoreMetrics/receiveBufferGrowths``), up to this many
    /// buffers. At the limit a starved receive waits for a buffer to come back, the waiting
    /// receives in turn. Buffers are not given back to the system until the runtime stops.
    /// nil: four times ``receiveBufferCount`` (4,096 x 16 KiB, 64 MiB per core, by default).
    /// Set it to ``receiveBufferCount`` to keep the pool at its first size.
    public var receiveBufferLimit: Int?
    /// Whether one completion of a multishot receive may fill several provided buffers
    /// (`IORING_RECVSEND_BUNDLE`, used from kernel 6.15 on, where such completions come in
    /// order; see ``RuntimeCapabilities/CoreCapability/receiveBundles``). Default true:
    /// a 64 KiB burst then costs one receive in the kernel and one completion, not four; each
    /// buffer still comes out as its own ``ReceivedBuffer``, in order. False takes one buffer
    /// per completion, as older kernels do.
    public var receiveBundles: Bool = true
    /// How long an idle core keeps looking for work (its mailbox, its ring's completions)
    /// before it parks in the kernel. Zero, the default, parks at once.
    ///
    /// A core that is still polling takes work from another core within about a microsecond:
    /// nobody has to wake it (no `IORING_OP_MSG_RING`, no inter-processor interrupt, no
    /// scheduler wake-up), which is most of a cross-core round trip's 30-40 us on a VM. The
    /// price is CPU time: up to `busyPoll` of spinning after each burst of work, none once the
    /// core has parked (an idle runtime costs nothing). Worth it where cross-core latency
    /// matters and cores are not shared with other work; docs/benchmarks.md has the figures.
    /// At most one second.
    public var busyPoll: Duration
    /// Where the runtime reports what an operator needs to know: a job that blocked a core
    /// (warning), tasks abandoned at shutdown (warning), each core's ring setup (debug).
    /// Default: a logger that discards everything (as AsyncHTTPClient's and SwiftNIO's
    /// defaults do: a library does not write to a program's standard output uninvited); pass
    /// the program's own `Logger` to see these.
    public var logger: Logger
    /// A job that runs longer than this without returning to its core's loop blocks every
    /// other task on that core: it is reported (``logger`` at warning level, and
    /// ``onStall``). nil turns the watchdog off. Default 100 ms.
    public var stallThreshold: Duration?
    /// Called (on the watchdog thread) when a stall is detected and when it ends.
    public var onStall: (@Sendable (StallReport) -> Void)?

    /// A configuration; every parameter defaults to the value its property describes.
    public init(
        cores: Cores = .automatic,
        pinThreads: Bool = true,
        ringEntries: UInt32 = 256,
        maxBlockingThreads: Int = 64,
        blockingThreadKeepAlive: Duration = .seconds(10),
        receiveBufferCount: Int = 1024,
        receiveBufferSize: Int = 16 << 10,
        receiveBufferLimit: Int? = nil,
        busyPoll: Duration = .zero,
        logger: Logger = Logger(label: "torus", factory: { _ in SwiftLogNoOpLogHandler() }),
        stallThreshold: Duration? = .milliseconds(100),
        onStall: (@Sendable (StallReport) -> Void)? = nil
    ) {
        self.logger = logger
        self.stallThreshold = stallThreshold
        self.onStall = onStall
        self.receiveBufferCount = receiveBufferCount
        self.receiveBufferSize = receiveBufferSize
        self.receiveBufferLimit = receiveBufferLimit
        self.busyPoll = busyPoll
        self.cores = cores
        self.pinThreads = pinThreads
        self.ringEntries = ringEntries
        self.maxBlockingThreads = maxBlockingThreads
        self.blockingThreadKeepAlive = blockingThreadKeepAlive
    }

    /// The most provided receive buffers per core, `receiveBufferLimit` or its default.
    var effectiveReceiveBufferLimit: Int { receiveBufferLimit ?? 4 * receiveBufferCount }

    /// The CPU for each core (nil entries when not pinning), or an error naming the bad field.
    func cpuAssignment(allowed: [Int]) throws(RuntimeError) -> [Int?] {
        let cpus: [Int]
        switch cores {
        case .automatic:
            cpus = allowed
        case .count(let count):
            guard count > 0 else { throw .invalidConfiguration("cores: .count(\(count)) must be at least 1") }
            cpus = (0..<count).map { allowed[$0 % allowed.count] }
        case .cpus(let list):
            guard !list.isEmpty else { throw .invalidConfiguration("cores: .cpus([]) lists no CPU") }
            if pinThreads, let bad = list.first(where: { !allowed.contains($0) }) {
                throw .invalidConfiguration("cores: CPU \(bad) is not in this process's allowed set \(allowed)")
            }
            cpus = list
        }
        guard receiveBufferCount > 0, receiveBufferCount & (receiveBufferCount - 1) == 0, receiveBufferCount <= 32768 else {
            throw .invalidConfiguration("receiveBufferCount must be a power of two up to 32768, got \(receiveBufferCount)")
        }
        guard receiveBufferSize > 0 else {
            throw .invalidConfiguration("receiveBufferSize must be positive, got \(receiveBufferSize)")
        }
        if let receiveBufferLimit, receiveBufferLimit < receiveBufferCount {
            throw .invalidConfiguration(
                "receiveBufferLimit (\(receiveBufferLimit)) must be at least receiveBufferCount (\(receiveBufferCount))")
        }
        guard busyPoll >= .zero, busyPoll <= .seconds(1) else {
            throw .invalidConfiguration("busyPoll must be between zero and 1 s, got \(busyPoll)")
        }
        if let stallThreshold, stallThreshold < .milliseconds(1) {
            throw .invalidConfiguration("stallThreshold must be at least 1 ms, got \(stallThreshold)")
        }
        guard maxBlockingThreads > 0 else {
            throw .invalidConfiguration("maxBlockingThreads must be at least 1, got \(maxBlockingThreads)")
        }
        return pinThreads ? cpus.map { Optional($0) } : cpus.map { _ in nil }
    }
}
