internal import CUring

/// Which `IORING_OP_*` operations the running kernel supports, from `IORING_REGISTER_PROBE`.
public struct OpcodeSupport: Sendable, CustomStringConvertible {
    /// Supported opcodes, by number.
    public let supported: Set<UInt8>
    /// The highest opcode the kernel knows.
    public let lastOpcode: UInt8

    init(supported: Set<UInt8>, lastOpcode: UInt8) {
        self.supported = supported
        self.lastOpcode = lastOpcode
    }

    /// Whether `opcode` (an `IORING_OP_*` value) is supported.
    public func supports(_ opcode: UInt32) -> Bool { supported.contains(UInt8(truncatingIfNeeded: opcode)) }

    /// `IORING_OP_MSG_RING` (kernel 5.18): the cross-core doorbell.
    public var hasMessageRing: Bool { supports(UInt32(TORUS_OP_MSG_RING)) }

    /// Names of the supported operations, in opcode order.
    public var names: [String] { supported.sorted().map { OpcodeSupport.name(of: $0) } }

    public var description: String { names.joined(separator: " ") }

    /// The `IORING_OP_` name of an opcode (without the prefix).
    public static func name(of opcode: UInt8) -> String {
        let index = Int(opcode)
        return index < knownNames.count ? knownNames[index] : "OP_\(opcode)"
    }

    // Kernel opcode numbering (include/uapi/linux/io_uring.h); stable by ABI.
    static let knownNames = [
        "NOP", "READV", "WRITEV", "FSYNC", "READ_FIXED", "WRITE_FIXED", "POLL_ADD", "POLL_REMOVE",
        "SYNC_FILE_RANGE", "SENDMSG", "RECVMSG", "TIMEOUT", "TIMEOUT_REMOVE", "ACCEPT", "ASYNC_CANCEL",
        "LINK_TIMEOUT", "CONNECT", "FALLOCATE", "OPENAT", "CLOSE", "FILES_UPDATE", "STATX", "READ",
        "WRITE", "FADVISE", "MADVISE", "SEND", "RECV", "OPENAT2", "EPOLL_CTL", "SPLICE",
        "PROVIDE_BUFFERS", "REMOVE_BUFFERS", "TEE", "SHUTDOWN", "RENAMEAT", "UNLINKAT", "MKDIRAT",
        "SYMLINKAT", "LINKAT", "MSG_RING", "FSETXATTR", "SETXATTR", "FGETXATTR", "GETXATTR", "SOCKET",
        "URING_CMD", "SEND_ZC", "SENDMSG_ZC", "READ_MULTISHOT", "WAITID", "FUTEX_WAIT", "FUTEX_WAKE",
        "FUTEX_WAITV", "FIXED_FD_INSTALL", "FTRUNCATE", "BIND", "LISTEN", "RECV_ZC", "EPOLL_WAIT",
        "READV_FIXED", "WRITEV_FIXED", "PIPE",
    ]
}
