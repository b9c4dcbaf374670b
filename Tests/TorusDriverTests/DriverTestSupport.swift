import Glibc
import Logging
import Testing
import TorusRing

@testable import Torus

// The driver on a bare ring: no runtime, no core thread. Each test creates its driver and runs
// it on the test's own thread, synchronously (a synchronous test never changes thread, which a
// `SINGLE_ISSUER` ring requires).

let ringAvailability: Result<Void, RingSetupError> = {
    do throws(RingSetupError) {
        _ = try Ring(entries: 8)
        return .success(())
    } catch { return .failure(error) }
}()
let ringAvailable: Bool = (try? ringAvailability.get()) != nil
let ringUnavailableReason: Comment = {
    if case .failure(let error) = ringAvailability { return "io_uring unavailable: \(error)" }
    return "io_uring available"
}()

/// Whether rings get `IORING_SETUP_SINGLE_ISSUER` (then only the creating thread can submit).
let singleIssuerAvailable: Bool = (try? Ring(entries: 8))?.setupFlags.contains(.singleIssuer) ?? false

struct DoorbellUnavailable: Error {}

/// A started driver on a ring of `entries` SQEs.
func makeDriver(entries: UInt32 = 16, ladder: [SetupFlags] = SetupFlags.ladder) throws -> RingDriver {
    let ring = try Ring(entries: entries, ladder: ladder)
    let pool = ProvidedBufferPool(initialCount: 8, bufferSize: 4096, limit: 8, logger: Logger(label: "driver-tests"), coreIndex: 0)
    let driver = RingDriver(receiveBuffers: pool)
    guard let eventFD = EventFD() else { throw DoorbellUnavailable() }
    driver.start(ring: ring, doorbell: eventFD)
    return driver
}

/// Stops the driver as a core does: cancel everything, reap until idle, close.
func finish(_ driver: RingDriver) {
    driver.beginStopping()
    while !driver.isIdle {
        driver.waitForCompletion()
        driver.reapCompletions()
    }
    driver.close()
}

/// The results of the test's operations, by tag, in arrival order.
final class Results {
    var byTag: [Int: [Int32]] = [:]
    var count: Int { byTag.values.reduce(0) { $0 + $1.count } }
    func record(_ tag: Int) -> OperationWaiter {
        .handler { [self] completion in byTag[tag, default: []].append(completion.result) }
    }
}

extension RingDriver {
    /// Queues a NOP whose completion is recorded under `tag`; with `timeLimit`, a linked timeout
    /// follows it (as under a deadline scope).
    @discardableResult
    func queueNop(_ results: Results, tag: Int, timeLimit: Duration? = nil) -> OperationID {
        let id = operations.reserve(keepAlive: nil)
        submit(id, waiter: results.record(tag), timeLimit: timeLimit) { entry, _ in entry.prepareNop() }
        return id
    }

    /// Queues a timeout of `duration` whose completion is recorded under `tag`.
    @discardableResult
    func queueTimeout(_ duration: Duration, _ results: Results, tag: Int) -> OperationID {
        submitTimeout(KernelTimespec(duration), waiter: results.record(tag))
    }

    /// Enters the kernel and reaps until `done` holds (at most `limit` waits).
    func run(until done: () -> Bool, limit: Int = 10_000) {
        var waits = 0
        while !done(), waits < limit {
            waitForCompletion()
            reapCompletions()
            waits += 1
        }
    }
}

// Copies of the table's answers: `#expect` cannot capture the non-copyable table itself.
extension RingDriver {
    func state(of id: OperationID) -> OperationLifecycle? { operations.state(of: id) }
    func isLive(_ id: OperationID) -> Bool { operations.isLive(id) }
    func isCancelRequested(_ id: OperationID) -> Bool { operations.isCancelRequested(id) }
    var inFlight: Int { operations.inFlight }
    var timersArmed: UInt64 { operations.timersArmed }
    /// Whether the table takes a final completion for `id` (it refuses a stale one).
    func acceptsCompletion(for id: OperationID) -> Bool { operations.complete(id, more: false) != nil }
}
