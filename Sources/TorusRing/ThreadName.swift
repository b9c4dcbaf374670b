internal import CUring

/// Thread names as `top -H` and `/proc/self/task/*/comm` show them.
public enum ThreadName {
    /// Names the calling thread; the kernel keeps the first 15 bytes.
    public static func setForCurrentThread(_ name: String) {
        torus_set_thread_name(String(name.utf8.prefix(15))!)
    }
}
