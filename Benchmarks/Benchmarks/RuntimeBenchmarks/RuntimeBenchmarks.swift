// ordo-one/benchmark suites that track Torus's own costs over time (`swift package benchmark`).
// Comparisons with peers live in torus-bench, which runs both in the same process.
import Benchmark
import Torus

let runtime: Runtime = try! Runtime(RuntimeConfiguration(cores: .count(2)))

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(metrics: [.wallClock, .cpuTotal, .mallocCountTotal, .throughput], maxDuration: .seconds(2))

    Benchmark("spawn + await on the current core", configuration: .init(scalingFactor: .kilo)) { benchmark in
        let count = benchmark.scaledIterations.count
        _ = try runtime.block {
            var sum = 0
            for i in 0..<count { sum &+= try await spawn { i }.value }
            return sum
        }
    }

    Benchmark("await one ring NOP", configuration: .init(scalingFactor: .kilo)) { benchmark in
        let count = benchmark.scaledIterations.count
        try runtime.block {
            for _ in 0..<count { await ringNop() }
        }
    }

    Benchmark("hop to core 1 and back", configuration: .init(scalingFactor: .kilo)) { benchmark in
        let count = benchmark.scaledIterations.count
        let other = runtime.cores[1]
        _ = try runtime.block {
            var sum = 0
            for _ in 0..<count { sum &+= await other.run { 1 } }
            return sum
        }
    }

    Benchmark("1 ms ring sleep", configuration: .init(scalingFactor: .one, maxIterations: 200)) { benchmark in
        let count = benchmark.scaledIterations.count
        try runtime.block {
            for _ in 0..<count { try await sleep(for: .milliseconds(1)) }
        }
    }
}
