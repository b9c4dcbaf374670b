import Foundation
import Testing
import TorusTestSupport

/// Creates a Unix socket file at `path` (bound, then closed: the file stays).
func makeSocketFile(_ path: String) -> Bool {
    let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { return false }
    defer { close(fd) }
    var address = sockaddr_un()
    address.sun_family = sa_family_t(AF_UNIX)
    withUnsafeMutableBytes(of: &address.sun_path) { buffer in
        for (index, byte) in path.utf8.prefix(buffer.count - 1).enumerated() { buffer[index] = byte }
    }
    return withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
    } == 0
}

extension RuntimeSuite {
    @Suite("torus-cp special files")
    struct CopySpecialFiles {
        @Test("-r recreates FIFOs and devices; a socket is skipped with a warning and exit status 1")
        func specialFilesInTree() throws {
            let root = try makeTemporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: root) }
            try FileManager.default.createDirectory(atPath: root + "/src", withIntermediateDirectories: false)
            #expect(mkfifo(root + "/src/fifo", 0o640) == 0)
            if getuid() == 0 { #expect(mknod(root + "/src/null", S_IFCHR | 0o666, dev_t(0x103)) == 0) }
            #expect(makeSocketFile(root + "/src/socket"))
            _ = FileManager.default.createFile(atPath: root + "/src/file", contents: Data("f".utf8))
            let outcome = try torusCopy(["-r", root + "/src", root + "/dst"])
            #expect(outcome.status == 1)
            #expect(outcome.stderr.contains("'\(root)/src/socket'"), "\(outcome.stderr)")
            var expected = exactTree(root + "/src")
            expected[Array("socket".utf8)] = nil
            #expect(exactTree(root + "/dst") == expected)
            #expect(fileStatus(root + "/dst/fifo").st_mode & S_IFMT == S_IFIFO)
        }
    }
}
