import Glibc
import Testing
import TorusRing
import TorusTestSupport

@testable import Torus

// Kept apart from the files that import Foundation: this one needs TorusRing's error cases.
extension RuntimeSuite {
    @Suite("Start-up failures")
    struct StartFailures {
        @Test("an impossible ring size fails start-up with the ring's error, and nothing is left running")
        func impossibleRingSize() throws {
            let threadsBefore = threadCount()
            #expect {
                _ = try Runtime(RuntimeConfiguration(cores: .count(2), ringEntries: 100_000))
            } throws: { error in
                guard case .ringSetup(_, let setupError)? = error as? RuntimeError,
                    case .invalidEntryCount(let entries, _) = setupError
                else { return false }
                return entries == 100_000 && "\(error)".contains("between 1 and 32768")
            }
            let threadsAfter = threadCount()
            #expect(threadsAfter <= threadsBefore)
        }

    }
}

/// Threads in this process, from /proc/self/task.
func threadCount() -> Int {
    guard let dir = opendir("/proc/self/task") else { return -1 }
    defer { closedir(dir) }
    var count = 0
    while let entry = readdir(dir) {
        if entry.pointee.d_name.0 != UInt8(ascii: ".") { count += 1 }
    }
    return count
}
