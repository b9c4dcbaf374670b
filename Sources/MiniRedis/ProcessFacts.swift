import Glibc
import Torus

/// What `INFO` reports about the process and the machine, read from the kernel when asked.
///
/// Plain system calls on the calling core: `/proc` files are generated in memory and never
/// wait for a disk, and each read is a few microseconds, far less than a ring round trip's
/// bookkeeping would be worth. Every call's result is checked; a fact the kernel will not give
/// is `nil` and left out of the reply rather than reported as 0.
enum ProcessFacts {
    /// Resident set size in bytes: the second field of `/proc/self/statm` (pages) times the
    /// page size. What the process holds in RAM now (code, stacks and the Swift heap, keys
    /// and values included), which is what `INFO` calls `used_memory`: redis reports its
    /// allocator's count there, which mini-redis does not keep.
    static var residentBytes: UInt64? {
        guard let text = readSmallFile("/proc/self/statm") else { return nil }
        let fields = text.split(separator: " ")
        guard fields.count >= 2, let pages = UInt64(fields[1]), let pageSize else { return nil }
        return pages * pageSize
    }

    /// The largest resident set size the process has had, in bytes (`getrusage`'s
    /// `ru_maxrss`, which Linux reports in KiB).
    static var peakResidentBytes: UInt64? {
        var usage = rusage()
        guard getrusage(RUSAGE_SELF.rawValue, &usage) == 0, usage.ru_maxrss >= 0 else { return nil }
        return UInt64(usage.ru_maxrss) << 10
    }

    /// CPU time used by the process so far, in seconds: (system, user), from `getrusage`.
    static var cpuSeconds: (system: Double, user: Double)? {
        var usage = rusage()
        guard getrusage(RUSAGE_SELF.rawValue, &usage) == 0 else { return nil }
        func seconds(_ time: timeval) -> Double { Double(time.tv_sec) + Double(time.tv_usec) / 1e6 }
        return (seconds(usage.ru_stime), seconds(usage.ru_utime))
    }

    /// Physical memory of the machine in bytes (`sysconf(_SC_PHYS_PAGES)` pages).
    static var totalSystemMemory: UInt64? {
        let pages = sysconf(Int32(_SC_PHYS_PAGES))
        guard pages > 0, let pageSize else { return nil }
        return UInt64(pages) * pageSize
    }

    static var pageSize: UInt64? {
        let size = sysconf(Int32(_SC_PAGESIZE))
        return size > 0 ? UInt64(size) : nil
    }

    /// The absolute path of the running program (`readlink("/proc/self/exe")`).
    static var executablePath: String? {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX))
        let count = buffer.withUnsafeMutableBufferPointer { pointer in
            guard let base = pointer.baseAddress else { return -1 }
            return readlink("/proc/self/exe", base, pointer.count)
        }
        guard count > 0 else { return nil }
        return String(decoding: buffer[..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// `uname`'s system name, release and machine, as redis's `os` field (`Linux 6.1.0 x86_64`).
    static var operatingSystem: String? {
        var name = utsname()
        guard uname(&name) == 0 else { return nil }
        func text<T>(_ field: inout T) -> String {
            withUnsafeBytes(of: &field) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
        }
        return "\(text(&name.sysname)) \(text(&name.release)) \(text(&name.machine))"
    }

    /// Microseconds since the Unix epoch (`clock_gettime(CLOCK_REALTIME)`).
    static var wallClockMicroseconds: UInt64? {
        var now = timespec()
        guard clock_gettime(CLOCK_REALTIME, &now) == 0, now.tv_sec >= 0 else { return nil }
        return UInt64(now.tv_sec) * 1_000_000 + UInt64(now.tv_nsec / 1000)
    }

    /// The contents of a small file (at most 4 KiB), or nil if it cannot be read.
    private static func readSmallFile(_ path: String) -> String? {
        guard let fd = try? systemCall("open", path: FilePath(path), { open(path, O_RDONLY | O_CLOEXEC) }) else { return nil }
        // Read-only: a failed close loses nothing (the number is released either way, never retried).
        defer { closeOwnedDescriptor(fd) }
        var bytes = [UInt8](repeating: 0, count: 4096)
        let count = try? bytes.withUnsafeMutableBytes { buffer throws(IOError) in
            try systemCall("read", path: FilePath(path)) { read(fd, buffer.baseAddress, buffer.count) }
        }
        guard let count, count > 0 else { return nil }
        return String(decoding: bytes[..<count], as: UTF8.self)
    }
}
