import Glibc
import SystemPackage
import TorusRing

extension File {
    /// Turns `O_DIRECT` on or off for the open file (`fcntl(F_SETFL)`), as Linux allows: a
    /// program that reads and writes aligned blocks with ``Options/direct`` can finish an
    /// unaligned tail (a file whose size is not a multiple of the block size) through the page
    /// cache on the same descriptor.
    /// - Throws: ``IOError`` naming `fcntl`.
    public func setDirect(_ enabled: Bool) throws {
        let fd = try borrowDescriptor(for: "fcntl")
        defer { sharedDescriptor.giveBack() }
        let flags = try systemCall("fcntl", path: path) { fcntl(fd, F_GETFL) }
        let direct = SubmissionEntry.directIOFlag
        let wanted = enabled ? flags | direct : flags & ~direct
        if wanted != flags { _ = try systemCall("fcntl", path: path) { fcntl(fd, F_SETFL, wanted) } }
    }
}
