import Glibc

/// A host name could not be turned into addresses (``SocketAddress/resolve(host:port:)``).
///
/// ```
/// getaddrinfo "nosuch.invalid": Name or service not known (EAI_NONAME)
/// getaddrinfo "": the host name is empty
/// ```
public struct HostResolutionError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Why the look-up failed: `getaddrinfo`'s `EAI_*` code, or ``invalidName`` for a name
    /// refused before any look-up.
    public struct Code: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
        /// The `EAI_*` value (negative), or 0 for ``invalidName``.
        public var rawValue: Int32
        /// A code from its `EAI_*` value.
        public init(rawValue: Int32) { self.rawValue = rawValue }

        /// The name is not known (`EAI_NONAME`).
        public static let unknownHost = Code(rawValue: EAI_NONAME)
        /// The name is known but has no address (`EAI_NODATA`).
        public static let noAddress = Code(rawValue: eaiNoData)
        /// The name server could not answer now; trying again later may work (`EAI_AGAIN`).
        public static let temporaryFailure = Code(rawValue: EAI_AGAIN)
        /// The name server failed for good (`EAI_FAIL`).
        public static let permanentFailure = Code(rawValue: EAI_FAIL)
        /// Out of memory (`EAI_MEMORY`).
        public static let outOfMemory = Code(rawValue: EAI_MEMORY)
        /// A system error; ``HostResolutionError/reason`` holds its `strerror` text (`EAI_SYSTEM`).
        public static let system = Code(rawValue: EAI_SYSTEM)
        /// The name was refused before any look-up: empty, longer than DNS allows (253 bytes,
        /// 63 per label), holding a NUL byte, or all digits and dots without being an IPv4
        /// address (`1.2.3`, `999.1.1.1`). Not a `getaddrinfo` code.
        public static let invalidName = Code(rawValue: 0)

        /// The C name of the code (`EAI_NONAME`, ...).
        public var description: String {
            switch rawValue {
            case 0: "invalid name"
            case EAI_NONAME: "EAI_NONAME"
            case eaiNoData: "EAI_NODATA"
            case EAI_AGAIN: "EAI_AGAIN"
            case EAI_FAIL: "EAI_FAIL"
            case EAI_MEMORY: "EAI_MEMORY"
            case EAI_SYSTEM: "EAI_SYSTEM"
            case EAI_FAMILY: "EAI_FAMILY"
            case eaiAddressFamily: "EAI_ADDRFAMILY"
            case EAI_SERVICE: "EAI_SERVICE"
            case EAI_BADFLAGS: "EAI_BADFLAGS"
            case EAI_SOCKTYPE: "EAI_SOCKTYPE"
            default: "EAI \(rawValue)"
            }
        }
    }

    /// The host name, as given.
    public var host: String
    /// What `getaddrinfo` said (or ``Code/invalidName``).
    public var code: Code
    /// The explanation: `gai_strerror`'s text, `strerror`'s for ``Code/system``, or what is
    /// wrong with an invalid name.
    public var reason: String

    /// A failure to resolve `host`, with `getaddrinfo`'s code and its explanation.
    public init(host: String, code: Code, reason: String) {
        self.host = host
        self.code = code
        self.reason = reason
    }

    /// Whether the name does not exist or has no address (`EAI_NONAME`, `EAI_NODATA`): asking
    /// again will not help, unlike ``Code/temporaryFailure``.
    public var isUnknownHost: Bool { code == .unknownHost || code == .noAddress }

    /// The host, the reason and the `EAI_*` name, as `getaddrinfo "nowhere.invalid": Name or
    /// service not known (EAI_NONAME)`.
    public var description: String {
        if code == .invalidName { return "getaddrinfo \"\(host)\": \(reason)" }
        return "getaddrinfo \"\(host)\": \(reason) (\(code))"
    }

    /// The error for `getaddrinfo`'s result `code`; `systemErrno` is `errno` read right after
    /// the call, which ``Code/system`` refers to.
    init(host: String, getaddrinfoCode code: Int32, systemErrno: Int32) {
        let reason = code == EAI_SYSTEM ? String(cString: strerror(systemErrno)) : String(cString: gai_strerror(code))
        self.init(host: host, code: Code(rawValue: code), reason: reason)
    }
}

// glibc's GNU extensions to the EAI_* codes, which its header declares only under
// _GNU_SOURCE (so Swift's Glibc module does not have them); the values are glibc's and musl's.
private let eaiNoData: Int32 = -5
private let eaiAddressFamily: Int32 = -9
