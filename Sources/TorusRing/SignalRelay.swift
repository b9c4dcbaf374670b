internal import CUring
import SystemPackage

/// Process signals turned into bytes on a pipe: the handler installed here only writes the
/// signal number to the pipe (async-signal-safe), and whoever reads the pipe learns which
/// signals arrived.
public enum SignalRelay {
    /// Creates the pipe; returns its read end. Call once per process.
    public static func open() throws(Errno) -> Int32 {
        var readEnd: Int32 = -1
        let result = torus_signal_relay_open(&readEnd)
        if result < 0 { throw Errno(rawValue: -result) }
        return readEnd
    }

    /// Routes `signal` to the pipe, replacing its default action (termination, for most).
    public static func install(_ signal: Int32) throws(Errno) {
        let result = torus_signal_relay_install(signal)
        if result < 0 { throw Errno(rawValue: -result) }
    }

    /// Bytes at or above this on the pipe announce an installed handler (the byte minus this is
    /// the signal); bytes below it are deliveries.
    public static let announcement: UInt8 = 0x80

    /// Tells the pipe's reader that `signal` now has the relay handler.
    public static func announce(_ signal: Int32) {
        _ = torus_signal_relay_announce(signal)
    }

    /// Unblocks `signal` for the calling thread, so that it can be delivered there even when
    /// the process started with it blocked (a parent's mask is inherited across exec).
    public static func unblockOnCurrentThread(_ signal: Int32) {
        _ = torus_signal_unblock(signal)
    }
}
