import Glibc
import Torus

// --direct: data moves in aligned blocks with O_DIRECT; what O_DIRECT cannot do (an unaligned
// tail, a file system that refuses it) goes through the page cache instead.

/// O_DIRECT's alignment for offsets, lengths and buffers (the pool's buffers are aligned so).
let directAlignment = 4096

extension FileCopier {
    /// Opens with `options`; where the file system refuses `O_DIRECT` (tmpfs, some network file
    /// systems: `EINVAL`), opens again without it and says so once per run.
    func openAllowingDirectFallback(_ options: File.Options, _ open: (File.Options) async throws -> File) async throws -> File {
        do {
            return try await open(options)
        } catch let error as IOError where options.contains(.direct) && error.errno == .invalidArgument {
            report.directRefused(error.path.map { "\($0)" } ?? "?")
            return try await open(options.subtracting(.direct))
        }
    }

    /// Splits off the last chunk when it ends unaligned (the end of a file whose size is not a
    /// multiple of the alignment): O_DIRECT cannot read or write it.
    func splitUnalignedTail(_ chunks: [(UInt64, Int)]) -> (aligned: [(UInt64, Int)], tail: (UInt64, Int)?) {
        guard options.direct, let last = chunks.last, last.1 % directAlignment != 0 else { return (chunks, nil) }
        return (Array(chunks.dropLast()), last)
    }

    /// Copies the unaligned tail through the page cache: O_DIRECT turned off on both
    /// descriptors (the aligned chunks are all done by now).
    func copyTail(_ tail: (UInt64, Int), from input: File, to output: File, end: SourceEnd) async throws {
        try input.setDirect(false)
        try output.setDirect(false)
        let (position, length) = tail
        try await buffers.withBuffer { buffer in
            while buffer.count < length {
                let n = try await input.read(into: buffer, at: position + UInt64(buffer.count), maxLength: length - buffer.count)
                if n == 0 {
                    end.ended(at: position + UInt64(buffer.count))
                    break
                }
            }
            try await output.writeAll(buffer, at: position, via: .inline)
            report.copiedBytes(UInt64(buffer.count), via: .readWrite)
        }
    }
}
