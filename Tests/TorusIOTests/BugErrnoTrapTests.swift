import Glibc
import Testing
import TorusTestSupport

@testable import Torus

extension RuntimeSuite {
    /// Errnos that can only mean a bug in Torus stop the process with the call's name instead of
    /// travelling as errors (SwiftNIO's rule): EFAULT from any call, EBADF from the close of a
    /// descriptor Torus owns. Each runs in a child process (an exit test).
    @Suite("Errnos that prove a bug")
    struct BugErrnoTrapTests {
        @Test("EFAULT from a system call traps; the same call with a good buffer returns its bytes")
        func badAddressTraps() async throws {
            await #expect(processExitsWith: .failure) {
                var ends: [Int32] = [0, 0]
                precondition(pipe(&ends) == 0)
                precondition(write(ends[1], "x", 1) == 1)
                // An address in the never-mapped first page: the kernel answers EFAULT.
                _ = try? systemCall("read") { read(ends[0], UnsafeMutableRawPointer(bitPattern: 16), 1) }
            }
            var ends: [Int32] = [0, 0]
            #expect(pipe(&ends) == 0)
            defer {
                close(ends[0])
                close(ends[1])
            }
            #expect(write(ends[1], "x", 1) == 1)
            var byte: UInt8 = 0
            #expect(try systemCall("read") { read(ends[0], &byte, 1) } == 1)
            #expect(byte == UInt8(ascii: "x"))
        }

        @Test("EBADF from closing an owned descriptor traps (someone closed it behind Torus's back)")
        func ownedDescriptorClosedBehindOurBack() async {
            await #expect(processExitsWith: .failure) {
                let fd = open("/dev/null", O_RDONLY)
                precondition(fd >= 0 && close(fd) == 0)
                closeOwnedDescriptor(fd)
            }
        }

    }
}
