// Child-process scenarios for Torus's tests: things a test cannot check inside its own
// process (a lowered memlock limit, thread and fd counts that other tests would disturb).
//
//   TorusTestHelper probe        start a one-core runtime; exit 0, or 2 with the error on stderr
//   TorusTestHelper leak-check   run a workload, shut down, print "threads A B fds C D"
//   TorusTestHelper stdio-upper  copy standard input to standard output in upper case, through
//                                StandardStreams, BufferedReader and BufferedWriter; "bye" on
//                                standard error at the end
import Glibc
import Torus

func countEntries(_ path: String) -> Int {
    guard let dir = opendir(path) else { return -1 }
    defer { closedir(dir) }
    var count = 0
    while let entry = readdir(dir) {
        let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
        if name != "." && name != ".." { count += 1 }
    }
    return count
}

/// A thread body (not a closure: one written in top-level code is main-actor isolated, and
/// Swift traps when it runs on another thread).
nonisolated func doNothing(_: UnsafeMutableRawPointer?) -> UnsafeMutableRawPointer? { nil }

func printError(_ message: String) {
    let line = message + "\n"
    _ = line.withCString { write(2, $0, strlen($0)) }
}

let arguments = CommandLine.arguments.dropFirst()
switch arguments.first {
case "probe":
    do {
        let runtime = try Runtime(RuntimeConfiguration(cores: .count(1)))
        runtime.shutdown()
        print("ok")
    } catch {
        printError("\(error)")
        exit(2)
    }

case "leak-check":
    // One thread started and joined first: ThreadSanitizer starts a background thread of its
    // own at the first pthread_create, which would otherwise count as a thread left behind.
    var warmUp = pthread_t()
    guard pthread_create(&warmUp, nil, doNothing, nil) == 0, pthread_join(warmUp, nil) == 0 else {
        printError("pthread_create failed")
        exit(2)
    }
    // The fd count is taken while opendir holds one fd in both readings, so they compare.
    let threadsBefore = countEntries("/proc/self/task")
    let fdsBefore = countEntries("/proc/self/fd")
    do {
        let runtime = try Runtime(RuntimeConfiguration(cores: .count(2), maxBlockingThreads: 4))
        let total = try runtime.block {
            var sum = 0
            for core in 0..<2 {
                sum += try await spawn(on: .core(core)) { () -> Int in
                    try await sleep(for: .milliseconds(1))
                    return try await spawnBlocking { 1 }
                }.value
            }
            // A task that never finishes by itself: shutdown has to cancel it.
            _ = spawn(on: .core(1)) { try await sleep(for: .seconds(3600)) }
            return sum
        }
        let report = runtime.shutdown(gracePeriod: .milliseconds(50))
        print("sum \(total) report \(report)")
    } catch {
        printError("\(error)")
        exit(2)
    }
    print("threads \(threadsBefore) \(countEntries("/proc/self/task")) fds \(fdsBefore) \(countEntries("/proc/self/fd"))")

case "stdio-upper":
    do {
        try Runtime.run(RuntimeConfiguration(cores: .count(1))) {
            let input = BufferedReader(try StandardStreams.input())
            let output = BufferedWriter(try StandardStreams.output())
            while let line = try await input.readLine() {
                try await output.write(line.uppercased() + "\n")
            }
            try await output.flush()
            try await copy(from: Array("bye\n".utf8), to: try StandardStreams.error())
        }
    } catch {
        printError("\(error)")
        exit(2)
    }

default:
    printError("usage: TorusTestHelper probe|leak-check")
    exit(64)
}
