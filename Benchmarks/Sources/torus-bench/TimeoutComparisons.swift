import Dispatch
import Torus

/// What a time limit around a channel receive costs: a plain receive, the deadline scope
/// (`withTimeout`, run in the calling task), a select with a timer branch, and the task-group
/// race that `withTimeout` used to be (and that loses values: a receive that wins in the same
/// instant as the timer is discarded). Interleaved within every repetition.
struct TimeoutComparisons {
    let runtime: Runtime
    let repetitions: Int
    let scale: Int

    func run() throws -> [Comparison] {
        guard selected("timeout") else { return [] }
        let n = 200_000 / scale
        let variants: [(String, @Sendable () async throws -> Int)] = [
            ("plain receive", { try await receiveLoop(n) { rx in try await rx.receive() } }),
            ("withTimeout (deadline scope)", { try await receiveLoop(n) { rx in try await withTimeout(.seconds(10)) { try await rx.receive() } } }),
            (
                "select with a timer branch",
                {
                    try await receiveLoop(n) { rx in
                        try await select(.receive(from: rx) { $0 }, .sleep(for: .seconds(10)) { nil })
                    }
                }
            ),
            ("task-group race (old withTimeout)", { try await receiveLoop(n) { rx in try await taskGroupRace(rx) } }),
        ]
        var walls = Array(repeating: [Double](), count: variants.count)
        var cpus = Array(repeating: [Double](), count: variants.count)
        for repetition in 0...repetitions {
            for (index, variant) in variants.enumerated() {
                let cpuStart = processCPUNanoseconds()
                let start = DispatchTime.now().uptimeNanoseconds
                let received = try runtime.block(on: variant.1)
                precondition(received == n, "\(variant.0) received \(received) of \(n)")
                guard repetition > 0 else { continue }  // the first round warms up
                walls[index].append(Double(DispatchTime.now().uptimeNanoseconds - start) / Double(n))
                cpus[index].append(Double(processCPUNanoseconds() - cpuStart) / Double(n))
            }
        }
        let wall = walls.map(median)
        let cpu = cpus.map(median)
        return [
            Comparison(
                name: "receive with a time limit, value ready (wall)", unit: "ns/op", torus: wall[1],
                peers: [(variants[0].0, wall[0]), (variants[2].0, wall[2]), (variants[3].0, wall[3])],
                note: "\(n) Ints from a producer on the same core, bounded 64; Torus column = withTimeout"),
            Comparison(
                name: "receive with a time limit, value ready (CPU)", unit: "ns/op", torus: cpu[1],
                peers: [(variants[0].0, cpu[0]), (variants[2].0, cpu[2]), (variants[3].0, cpu[3])],
                note: "process CPU per value"),
        ]
    }
}

/// Receives `n` values sent by a producer on the same core, each through `receive`.
private func receiveLoop(_ n: Int, _ receive: @escaping (MPSC.Receiver<Int>) async throws -> Int?) async throws -> Int {
    let (tx, rx) = MPSC.bounded(Int.self, capacity: 64)
    spawn {
        for i in 0..<n { try await tx.send(i) }
        tx.finish()
    }
    var count = 0
    while try await receive(rx) != nil { count += 1 }
    return count
}

private enum Race: Sendable {
    case value(Int?)
    case timedOut
}

/// The task-group race: a child receives, a child sleeps, the first wins.
private func taskGroupRace(_ rx: MPSC.Receiver<Int>) async throws -> Int? {
    try await withThrowingTaskGroup(of: Race.self) { group in
        group.addTask { .value(try await rx.receive()) }
        group.addTask {
            try await sleep(for: .seconds(10))
            return .timedOut
        }
        defer { group.cancelAll() }
        switch try await group.next()! {
        case .value(let value): return value
        case .timedOut: throw TimeoutError(duration: .seconds(10))
        }
    }
}
