import Testing
import TorusTestSupport

@testable import Torus

extension RuntimeSuite.BlockingPool {
    @Test("a blocking worker started from a pinned core runs on every CPU the process may use")
    func workersAreNotPinned() async throws {
        let runtime = try makeRuntime()
        defer { runtime.shutdown() }
        let cpus = try await runtime.handle.spawn(on: .core(runtime.cores.count - 1)) {
            try await spawnBlocking { ThreadAffinity.allowedCPUs }
        }.value
        #expect(cpus == Runtime.allowedCPUs)
    }
}
