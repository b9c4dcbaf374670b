import Glibc
import SystemPackage

/// The process's standard input, output and error as an async reader and writers on the ring
/// (tokio's `stdin()`, `stdout()`, `stderr()`).
///
/// ```swift
/// let input = BufferedReader(try StandardStreams.input())
/// let output = BufferedWriter(try StandardStreams.output())
/// while let line = try await input.readLine() {
///     try await output.write(line.uppercased() + "\n")
/// }
/// try await output.flush()
/// ```
///
/// Each call returns a ``File`` on a duplicate of the descriptor, so closing it leaves the
/// process's own descriptor open. Reads and writes on a terminal or a pipe wait in the kernel
/// without holding the core, and are cancelled in the kernel when the task is cancelled
/// (nothing read is lost: a read either completes with its bytes or takes none).
///
/// Swift's `print` writes through the C library's buffer, which is flushed on its own schedule:
/// in one program, write to standard output either with `print` or with this writer, not both.
public enum StandardStreams {
    /// Standard input (descriptor 0) as a reader.
    public static func input() throws -> File { try duplicate(STDIN_FILENO, name: "/dev/stdin") }
    /// Standard output (descriptor 1) as a writer.
    public static func output() throws -> File { try duplicate(STDOUT_FILENO, name: "/dev/stdout") }
    /// Standard error (descriptor 2) as a writer.
    public static func error() throws -> File { try duplicate(STDERR_FILENO, name: "/dev/stderr") }

    private static func duplicate(_ fd: Int32, name: FilePath) throws -> File {
        let copy = try systemCall("dup", path: name) { fcntl(fd, F_DUPFD_CLOEXEC, 3) }
        return File(descriptor: copy, path: name)
    }
}

/// Writes every byte of `bytes` to `writer` and returns how many: ``copy(from:to:bufferSize:)``
/// for bytes already in memory.
///
/// Cancel safety: as `writeAll`: a cancelled copy may have written a prefix of `bytes`; use
/// `writeAll(_:written:)` to resume one.
@discardableResult
public func copy(from bytes: some Collection<UInt8>, to writer: some AsyncWriter) async throws -> Int {
    try await writer.writeAll(bytes)
    return bytes.count
}
