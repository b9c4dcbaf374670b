import Glibc

/// Why an io_uring could not be created, and what to do about it.
///
/// Every case's ``description`` names the failing call, the errno, the limit or setting that
/// caused it, and the fix. Users of runtimes built on io_uring keep tripping over cryptic
/// `ENOMEM` and `EPERM` at start-up; Torus says exactly what is wrong.
public enum RingSetupError: Error, Sendable, CustomStringConvertible, Equatable {
    /// `ENOMEM`: the ring's memory is charged to `RLIMIT_MEMLOCK` and the limit is too low.
    /// `limit` is the soft limit in bytes (`nil` = unlimited, in which case memory really ran out).
    case lockedMemoryLimit(entries: UInt32, limit: UInt64?)
    /// `EPERM`: io_uring is switched off by `kernel.io_uring_disabled` or denied by a seccomp
    /// profile (Docker's default profile blocks it). `disabledSetting` is the sysctl's value.
    case notPermitted(disabledSetting: Int?)
    /// `ENOSYS`: the kernel has no io_uring (too old, or built without it) or a seccomp filter
    /// answers ENOSYS for it.
    case notSupported(kernel: String)
    /// `EINVAL` with every flag combination: the entry count is out of range (1...32768) or the
    /// kernel is older than 5.1.
    case invalidEntryCount(UInt32, kernel: String)
    /// Any other errno from `io_uring_queue_init_params`.
    case other(errno: Int32, entries: UInt32)

    public var description: String {
        switch self {
        case .lockedMemoryLimit(let entries, let limit):
            let limitText = limit.map { "\($0) bytes (ulimit -l = \($0 / 1024) KiB)" } ?? "unlimited"
            return """
                io_uring_setup(entries: \(entries)) failed with ENOMEM: ring memory is charged to \
                RLIMIT_MEMLOCK, which is \(limitText) for this process. Raise it (`ulimit -l unlimited` \
                in the shell, `LimitMEMLOCK=infinity` in a systemd unit, `--ulimit memlock=-1` for \
                docker run) or use fewer cores or fewer ring entries (RuntimeConfiguration.ringEntries).
                """
        case .notPermitted(let setting):
            let settingText = setting.map { "kernel.io_uring_disabled is \($0)" } ?? "kernel.io_uring_disabled is absent"
            let hint: String
            switch setting {
            case 2?: hint = "io_uring is disabled for everyone: run `sysctl -w kernel.io_uring_disabled=0` as root."
            case 1?:
                hint =
                    "only privileged processes or members of kernel.io_uring_group may use it: run as root, add the user to that group, or set kernel.io_uring_disabled=0."
            default:
                hint =
                    "a seccomp profile is the likely cause: Docker's default profile blocks io_uring (run with --security-opt seccomp=<profile allowing io_uring_setup/enter/register>)."
            }
            return "io_uring_setup failed with EPERM (\(settingText)): \(hint)"
        case .notSupported(let kernel):
            return """
                io_uring_setup failed with ENOSYS: kernel \(kernel) has no io_uring (it needs Linux 5.1, \
                and Torus wants 5.19 or later), or a seccomp filter answers ENOSYS for it. Use a newer \
                kernel or allow io_uring_setup/io_uring_enter/io_uring_register in the sandbox.
                """
        case .invalidEntryCount(let entries, let kernel):
            return """
                io_uring_setup(entries: \(entries)) failed with EINVAL on kernel \(kernel): the entry \
                count must be between 1 and 32768, and the kernel must be 5.1 or later.
                """
        case .other(let code, let entries):
            return "io_uring_setup(entries: \(entries)) failed: \(String(cString: strerror(code))) (errno \(code))."
        }
    }
}
