import Glibc
import Synchronization
import SystemPackage
import TorusChannels

/// A fault to make a system call or ring operation suffer instead of (or on top of) the real one.
public enum InjectedFault: Sendable, Hashable {
    /// The call fails with this error without reaching the kernel (for a ring operation: no SQE
    /// is submitted, and the result is handled exactly as a CQE with `-errno` would be).
    case fail(Errno)
    /// A read, write, send or receive moves at most this many bytes: the length in the SQE is
    /// cut before submission, so the kernel really does a short transfer and nothing is lost.
    case short(Int)
}

/// One rule of ``FaultInjection``: which calls it hits and how often.
public struct FaultRule: Sendable, Hashable {
    /// The operation as errors name it (`read`, `write`, `send`, `recv`, `accept`, `open`,
    /// `statx`, `fsync`, ...).
    public var operation: String
    /// Only calls whose path or address contains this text (nil: every call of `operation`).
    /// Keeps a rule from hitting other work in the same process.
    public var subject: String?
    /// What a hit does: fail with an errno, or cut the transfer short.
    public var fault: InjectedFault
    /// Matching calls let through before the first hit (0: the first call is hit). A call let
    /// through may still be hit by a later rule: `[EIO after 3, short always]` cuts the first
    /// three calls short and fails the fourth.
    public var skip: Int
    /// Hits before the rule is spent (`Int.max`: every matching call after `skip`).
    public var times: Int

    /// A rule that makes `operation` (on `subject`, if given) suffer `fault`, after letting `skip`
    /// matching calls through, `times` times.
    public init(_ operation: String, subject: String? = nil, _ fault: InjectedFault, skip: Int = 0, times: Int = 1) {
        self.operation = operation
        self.subject = subject
        self.fault = fault
        self.skip = skip
        self.times = times
    }
}

/// Fault injection for tests (swift-system's `Mocking.swift` in spirit): chosen system calls and
/// ring operations fail with a chosen `errno` or come back short, so that every error and
/// short-transfer path of files, sockets, the accept loop and the programs built on them can be
/// driven on purpose.
///
/// Off unless rules are installed, and then one relaxed atomic load per operation is all it costs.
/// Programs built in debug mode also read rules from the `TORUS_FAULTS` environment variable
/// when their first runtime starts (how the tests reach torus-cp and mini-redis-server):
/// `operation:fault[@subject][+skip][*times]` separated by `;`, where fault is an errno name
/// (`ENOSPC`, `EIO`, `EINTR`, ...) or `short=N`, and `times` is a count or `all`, e.g.
/// `write:ENOSPC@/dst/+2` (the third write to a path containing `/dst/` fails) or
/// `send:short=1*all`. Release builds ignore the variable.
public enum FaultInjection {
    private static let armed = Atomic<Bool>(false)
    private static let rules = Lock<[FaultRule]>([])
    /// How many faults were injected (for tests to check that a rule really hit).
    private static let hits = Atomic<Int>(0)

    /// Replaces the rules.
    public static func install(_ newRules: [FaultRule]) {
        rules.withLock { $0 = newRules }
        armed.store(!newRules.isEmpty, ordering: .releasing)
    }

    /// Removes every rule.
    public static func removeAll() { install([]) }

    /// Faults injected since the process started.
    public static var injectedCount: Int { hits.load(ordering: .relaxed) }

    /// Runs `body` with `rules` installed, removing them afterwards.
    ///
    /// Cancel safety: the rules are removed however `body` ends: returning, throwing or cancelled.
    public static func with<T>(_ newRules: [FaultRule], _ body: () async throws -> T) async rethrows -> T {
        install(newRules)
        defer { removeAll() }
        return try await body()
    }

    /// The fault for this call of `operation`, if a rule hits it.
    @inline(__always)
    static func fault(for operation: String, path: FilePath? = nil, address: SocketAddress? = nil) -> InjectedFault? {
        guard armed.load(ordering: .relaxed) else { return nil }
        return matchingFault(operation, path: path, address: address)
    }

    private static func matchingFault(_ operation: String, path: FilePath?, address: SocketAddress?) -> InjectedFault? {
        let fault: InjectedFault? = rules.withLock { rules in
            for index in rules.indices where rules[index].operation == operation && rules[index].times > 0 {
                if let subject = rules[index].subject {
                    let text = (path.map { "\($0)" } ?? "") + (address.map { " \($0)" } ?? "")
                    guard text.contains(subject) else { continue }
                }
                if rules[index].skip > 0 {
                    // Let this call through this rule; a later rule may still hit it.
                    rules[index].skip -= 1
                    continue
                }
                if rules[index].times != .max { rules[index].times -= 1 }
                return rules[index].fault
            }
            return nil
        }
        if fault != nil { hits.wrappingAdd(1, ordering: .relaxed) }
        return fault
    }

    /// Reads `TORUS_FAULTS` once per process (the first runtime's start touches it).
    static let environmentRules: Void = installFromEnvironment()

    /// Installs the rules of `TORUS_FAULTS` (debug builds only; see the type's documentation).
    private static func installFromEnvironment() {
        #if DEBUG
            guard let text = getenv("TORUS_FAULTS").map({ String(cString: $0) }), !text.isEmpty else { return }
            var parsed: [FaultRule] = []
            for text in text.split(separator: ";") {
                // A rule the parser cannot read would silently inject nothing, and the test
                // that set it would pass without testing anything: stop instead.
                guard let rule = parseRule(String(text)) else {
                    let message = "TORUS_FAULTS: cannot read the rule \"\(text)\" (operation:ERRNO|short=N[@subject][+skip][*times|*all])\n"
                    _ = message.utf8CString.withUnsafeBufferPointer { write(STDERR_FILENO, $0.baseAddress, $0.count - 1) }
                    exit(70)
                }
                parsed.append(rule)
            }
            install(rules.withLock { $0 } + parsed)
        #endif
    }

    /// `operation:fault[@subject][+skip][*times]`; nil when malformed.
    static func parseRule(_ text: String) -> FaultRule? {
        // A rule that could never fire (no hits, a negative skip, a space around the operation)
        // is malformed too: it would test nothing.
        guard let colon = text.firstIndex(of: ":") else { return nil }
        let operation = String(text[..<colon])
        guard !operation.isEmpty, operation.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" }) else { return nil }
        var rest = Substring(text[text.index(after: colon)...])
        var times = 1
        if let star = rest.lastIndex(of: "*") {
            let count = rest[rest.index(after: star)...]
            guard let value = count == "all" ? Int.max : Int(count), value > 0 else { return nil }
            times = value
            rest = rest[..<star]
        }
        var skip = 0
        if let plus = rest.lastIndex(of: "+") {
            guard let value = Int(rest[rest.index(after: plus)...]), value >= 0 else { return nil }
            skip = value
            rest = rest[..<plus]
        }
        var subject: String?
        if let at = rest.firstIndex(of: "@") {
            subject = String(rest[rest.index(after: at)...])
            rest = rest[..<at]
        }
        let fault: InjectedFault
        if rest.hasPrefix("short=") {
            guard let length = Int(rest.dropFirst(6)), length > 0 else { return nil }
            fault = .short(length)
        } else {
            guard let code = errnoCodes[String(rest)] else { return nil }
            fault = .fail(Errno(rawValue: code))
        }
        return FaultRule(operation, subject: subject, fault, skip: skip, times: times)
    }

    /// The errnos tests inject, by name.
    private static let errnoCodes: [String: Int32] = [
        "EINTR": EINTR, "EAGAIN": EAGAIN, "ENOMEM": ENOMEM, "ENOSPC": ENOSPC, "EIO": EIO,
        "ECANCELED": ECANCELED, "EMFILE": EMFILE, "ENFILE": ENFILE, "EACCES": EACCES, "EPERM": EPERM,
        "ENOENT": ENOENT, "EPIPE": EPIPE, "ECONNRESET": ECONNRESET, "ENOBUFS": ENOBUFS, "EDQUOT": EDQUOT,
        "EFBIG": EFBIG, "EROFS": EROFS, "EXDEV": EXDEV, "EOPNOTSUPP": EOPNOTSUPP, "EINVAL": EINVAL,
        "EEXIST": EEXIST, "EISDIR": EISDIR,
    ]
}
