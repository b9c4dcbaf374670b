internal import CUring
import Glibc

/// Facts about the running kernel that explain what io_uring can do here.
public enum KernelInfo {
    /// The kernel release, as `uname -r` prints it (for example `6.18.44`).
    public static var release: String {
        var name = utsname()
        guard uname(&name) == 0 else { return "unknown" }
        return withUnsafeBytes(of: &name.release) { raw in
            String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
        }
    }

    /// The release's major and minor version (`6.18.44-fc` -> (6, 18)); nil if it does not start
    /// with two numbers.
    public static var version: (major: Int, minor: Int)? { releaseVersion(release) }

    /// The major and minor version at the start of a release string.
    public static func releaseVersion(_ release: String) -> (major: Int, minor: Int)? {
        let parts = release.split(separator: ".", maxSplits: 2)
        guard parts.count >= 2, let major = Int(parts[0]) else { return nil }
        guard let minor = Int(parts[1].prefix(while: \.isNumber)) else { return nil }
        return (major, minor)
    }

    /// Whether the release is `major.minor` or later (false when it cannot be read).
    public static func isAtLeast(_ major: Int, _ minor: Int) -> Bool {
        guard let version else { return false }
        return version.major > major || (version.major == major && version.minor >= minor)
    }

    /// The value of `/proc/sys/kernel/io_uring_disabled` (0 allowed, 1 privileged or
    /// `io_uring_group` only, 2 disabled), or `nil` when the kernel has no such knob.
    public static var ioUringDisabledSetting: Int? {
        guard let text = readSmallFile("/proc/sys/kernel/io_uring_disabled") else { return nil }
        return Int(text.trimmingWhitespace())
    }

    /// The soft `RLIMIT_MEMLOCK` of this process in bytes, or `nil` when unlimited.
    public static var memlockLimit: UInt64? {
        let limit = torus_memlock_soft_limit()
        return limit == UInt64.max ? nil : limit
    }

    /// Whether the process runs with an effective uid of 0.
    public static var isRoot: Bool { geteuid() == 0 }

    static func readSmallFile(_ path: String) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes = [UInt8](repeating: 0, count: 256)
        let n = bytes.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        guard n > 0 else { return nil }
        return String(decoding: bytes[0..<n], as: UTF8.self)
    }
}

extension String {
    func trimmingWhitespace() -> String {
        let scalars = unicodeScalars
        let isSpace: (Unicode.Scalar) -> Bool = { $0 == " " || $0 == "\n" || $0 == "\t" || $0 == "\r" }
        guard let first = scalars.firstIndex(where: { !isSpace($0) }),
            let last = scalars.lastIndex(where: { !isSpace($0) })
        else { return "" }
        return String(scalars[first...last])
    }
}
