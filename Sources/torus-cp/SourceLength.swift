import Glibc
import Torus

// The length of a copy is what reading the source found, never what `st_size` said: the two
// differ when the file changes while it is copied, and always for procfs (size 0) and sysfs
// (size 4096) files.

extension FileCopier {
    /// Copies whatever the source holds past `offset`, where its size said it ended, to the end
    /// of file: a file that grew while it was copied, or a procfs file whose size is 0.
    /// - Returns: the length of the copy.
    func copyRest(of input: File, from offset: UInt64, to output: File) async throws -> UInt64 {
        // One byte at the supposed end of file: a regular file answers from its inode without
        // touching the disk, so the usual case costs one short system call.
        var probe: UInt8 = 0
        if options.direct || pread(input.descriptor.rawValue, &probe, 1, off_t(offset)) <= 0 { return offset }
        return try await buffers.withBuffer { buffer in
            var position = offset
            while true {
                buffer.clear()
                let n = try await input.read(into: buffer, at: position)
                if n == 0 { return position }
                try await output.writeAll(buffer, at: position, via: .inline)
                report.copiedBytes(UInt64(n), via: .readWrite)
                position += UInt64(n)
            }
        }
    }

    /// Warns, naming the file, when a copy of `length` bytes does not match the size the source
    /// had when it was opened because the source changed meanwhile (its size now differs).
    /// A size that was never true and has not changed (procfs, sysfs) is no news.
    func checkSizeChange(of input: File, from metadata: FileMetadata, copied length: UInt64) async throws {
        let now = try await input.metadata(via: .inline)
        guard now.size != metadata.size else { return }
        report.changed(
            "\(quoted(input.path)) changed size while it was copied: \(metadata.size) bytes when opened, "
                + "\(now.size) now; the copy holds the \(length) bytes read")
    }
}
