import Testing
import Torus
import TorusTestSupport

extension RuntimeSuite {
    @Suite("README")
    struct ReadmeSnippet {
        @Test("the README's first example compiles and returns 42")
        func firstExample() throws {
            // Kept identical to the snippet under "Using it" in README.md.
            let total = try Runtime.run {
                // Spawn on a chosen core, on the current one, or spread round-robin.
                let a = spawn(on: .core(0)) { () -> Int in
                    try await sleep(for: .milliseconds(10))  // an IORING_OP_TIMEOUT on core 0
                    return 40
                }
                let b = spawn(on: .spread) { 2 }
                return try await a.value + b.value
            }
            #expect(total == 42)
        }
    }
}
