import Glibc

/// Writes `text` whole to descriptor `fd` (1 or 2: a program's messages), blocking the calling
/// thread: a short write (a pipe with little room) continues where it stopped, `EINTR` is
/// retried. Returns false when the text could not all be written (`EPIPE`: nobody reads any
/// more; `EAGAIN` on a non-blocking descriptor): a message that cannot be shown is dropped, it
/// never stops the program.
///
/// Fault injection names these writes `message` (not `write`), so a rule meant for a file's
/// writes does not also silence the error that reports it.
///
/// One `write` carries the whole text when it fits in the pipe, so lines from different cores do
/// not interleave. For the programs of this package (torus-cp, torus-echo, mini-redis-server).
@discardableResult
package func writeWhole(_ text: String, to fd: Int32) -> Bool {
    var bytes = Array(text.utf8)
    var written = 0
    while written < bytes.count {
        let count = bytes.withUnsafeMutableBytes { buffer in
            try? systemCall("message", length: buffer.count - written) { length in
                write(fd, buffer.baseAddress! + written, length)
            }
        }
        guard let count, count > 0 else { return false }
        written += count
    }
    return true
}
