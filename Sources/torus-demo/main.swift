// torus-demo: a tour of the Torus runtime in one program.
//
// Starts a runtime from synchronous code, prints what io_uring offers on this machine, then
// spawns work on every core, hops between cores, sleeps on the ring, runs blocking work on the
// pool, times an operation out, and shuts down gracefully.
import Torus

#if canImport(Glibc)
    import Glibc
#endif

/// Exit status 1 for a failure (a runtime that cannot start, say), 128+N for signal N.
func fail(_ message: String, status: Int32 = 1) -> Never {
    let line = "torus-demo: \(message)\n"
    writeWhole(line, to: STDERR_FILENO)
    exit(status)
}

let runtime: Runtime
do {
    runtime = try Runtime()
} catch {
    fail("\(error)")
}

// Ctrl-C (or SIGTERM, SIGHUP) during the tour stops it; the runtime still shuts down, and the
// exit status is the shell's for a process a signal ended, 128 + the signal's number.
let signals: SignalListener
do {
    signals = try SignalListener([.interrupt, .terminate, .hangup])
} catch {
    fail("\(error)")
}

print("== io_uring on this machine")
print(runtime.capabilities)

do {
    let outcome = try runtime.block {
        await signals.cancelling {
            let cores = RuntimeHandle.current!.cores
            var lines: [String] = []

            // 1. One task per core; each reports where it ran before and after an await.
            let handles = cores.map { core in
                spawn(on: .core(core.index)) { () -> String in
                    let before = Core.current!.index
                    try await sleep(for: .milliseconds(5))
                    let after = Core.current!.index
                    return "task for core \(core.index): ran on core \(before), still on core \(after) after a ring sleep"
                }
            }
            for handle in handles { lines.append(try await handle.value) }

            // 2. Hand work to the last core and come back.
            let home = Core.current!.index
            let away = await cores.last!.run { Core.current!.index }
            lines.append("hop: from core \(home) to core \(away) and back to core \(Core.current!.index)")

            // 3. Blocking work on the pool does not stall the core.
            let clock = ContinuousClock()
            let start = clock.now
            async let blocked: Int = spawnBlocking {
                usleep(50_000)
                return 42
            }
            var ticks = 0
            for await _ in interval(every: .milliseconds(10)) {
                ticks += 1
                if ticks == 4 { break }
            }
            let answer = try await blocked
            lines.append("spawnBlocking returned \(answer) while the core ticked \(ticks) times in \(start.duration(to: clock.now))")

            // 4. Timeouts cancel the slow operation on the ring.
            do {
                try await withTimeout(.milliseconds(20)) { try await sleep(for: .seconds(10)) }
            } catch let error as TimeoutError {
                lines.append("timeout: \(error)")
            }

            // 5. Task.sleep is served by the ring too.
            let sleepStart = clock.now
            try await Task.sleep(for: .milliseconds(10))
            lines.append("Task.sleep(10 ms) took \(sleepStart.duration(to: clock.now))")
            return lines
        }
    }
    if let signal = outcome.signal {
        runtime.shutdown(gracePeriod: .seconds(1))
        fail("stopped by \(signal)", status: 128 + signal.rawValue)
    }
    let summary = try outcome.result.get()
    print("\n== runtime tour")
    for line in summary { print(line) }
} catch {
    fail("\(error)")
}

let report = runtime.shutdown(gracePeriod: .seconds(1))
print("\n== shutdown: \(report)")
