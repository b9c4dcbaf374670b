import TorusRing

/// What io_uring offers a runtime on this machine: printable, for logs and bug reports.
public struct RuntimeCapabilities: Sendable, CustomStringConvertible {
    /// One core's ring.
    public struct CoreCapability: Sendable {
        /// The core's index in the runtime (``Core/index``).
        public var index: Int
        /// The CPU the core's thread is pinned to; nil when threads are not pinned.
        public var cpu: Int?
        /// The `IORING_SETUP_*` flags in force, e.g. `SINGLE_ISSUER|DEFER_TASKRUN|...`.
        public var setupFlags: String
        /// Whether cross-core wake-ups use `IORING_OP_MSG_RING` (else the eventfd).
        public var messageRing: Bool
        /// The `IORING_OP_*` names the kernel supports.
        public var operations: [String]
        /// Whether one multishot receive completion may fill several provided buffers: the
        /// kernel has `IORING_FEAT_RECVSEND_BUNDLE` and is 6.15 or later (earlier kernels could
        /// post a bundle's completion after later ones, when its buffers may have been reused).
        /// Used unless ``RuntimeConfiguration/receiveBundles`` is off.
        public var receiveBundles: Bool = false
    }

    /// `uname -r`.
    public var kernel: String
    /// Each core's ring, in index order.
    public var cores: [CoreCapability]

    /// The kernel, then one line per core: CPU, setup flags, wake-up method, supported operations.
    public var description: String {
        var lines = ["kernel \(kernel), \(cores.count) core(s)"]
        for core in cores {
            let cpu = core.cpu.map { "cpu \($0)" } ?? "unpinned"
            lines.append(
                "  core \(core.index) (\(cpu)): setup \(core.setupFlags); wake-ups by \(core.messageRing ? "MSG_RING" : "eventfd"); receive bundles \(core.receiveBundles ? "yes" : "no")"
            )
        }
        if let first = cores.first {
            lines.append("  operations (\(first.operations.count)): \(first.operations.joined(separator: " "))")
        }
        return lines.joined(separator: "\n")
    }

    /// Creates a throw-away ring on the calling thread to see whether io_uring works here.
    ///
    /// - Throws: ``RingSetupError`` explaining why not, and what to do.
    public static func probe(entries: UInt32 = 8) throws(RingSetupError) -> RuntimeCapabilities {
        let ring = try Ring(entries: entries)
        let ops = ring.probe()
        return RuntimeCapabilities(
            kernel: KernelInfo.release,
            cores: [
                CoreCapability(
                    index: 0, cpu: nil, setupFlags: ring.setupFlags.description,
                    messageRing: ops?.hasMessageRing ?? false, operations: ops?.names ?? [], receiveBundles: ring.supportsReceiveBundles)
            ])
    }
}

extension Core {
    var capability: RuntimeCapabilities.CoreCapability {
        RuntimeCapabilities.CoreCapability(
            index: index, cpu: cpu, setupFlags: driver.setupFlagsDescription,
            messageRing: driver.canMessageRing, operations: driver.operationNames, receiveBundles: driver.supportsReceiveBundles)
    }
}
