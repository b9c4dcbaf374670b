import Foundation
import TorusTestSupport

@testable import Torus

/// A file of `count` pseudo-random bytes in a fresh directory, flushed to disk so that its
/// cache can be dropped: (directory, path, bytes). The batched-read suites share it.
func pseudoRandomFile(_ count: Int, seed: UInt64, name: String = "blocks.bin") throws -> (String, FilePath, [UInt8]) {
    let directory = try makeTemporaryDirectory()
    let path = directory + "/" + name
    let bytes = pseudoRandomBytes(count, seed: seed)
    try Data(bytes).write(to: URL(fileURLWithPath: path))
    let fd = open(path, O_RDONLY)
    fsync(fd)
    close(fd)
    return (directory, FilePath(path), bytes)
}

/// The bytes a file of `bytes` holds at `offset..<offset + length` (clipped at its end).
func fileBytes(_ bytes: [UInt8], _ offset: Int, _ length: Int) -> [UInt8] {
    guard offset < bytes.count else { return [] }
    return Array(bytes[offset..<min(offset + length, bytes.count)])
}
