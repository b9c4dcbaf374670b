import Glibc
import Testing
import TorusRing

@testable import Torus

@Suite("Ring driver: an operation cancelled while it is submitted", .enabled(if: ringAvailable, ringUnavailableReason))
struct DriverCancelDuringSubmissionTests {
    /// Between the submitter's look at the state and `markSubmitted`, code on the core's own
    /// thread can cancel the operation: `nextEntry` reaps when the kernel does not take the
    /// queued entries, and a completion handler run by that reap may fire a deadline scope's
    /// hooks, one of which cancels the operation being submitted (an operation under a
    /// `CancellationToken` inside `withTimeout`). The cancel makes it `cancelRequested`;
    /// `submit()` from there used to trap ("submit is not allowed in state cancelRequested").
    /// Here the cancel comes from `prepare`, which runs inside that window, deterministically.
    @Test("an operation cancelled on its core while being submitted is refused with -ECANCELED, nothing traps", arguments: [false, true])
    func cancelledWhileSubmitted(timeLimited: Bool) throws {
        let driver = try makeDriver()
        var results: [Int32] = []
        let id = driver.operations.reserve(keepAlive: nil)
        driver.submit(id, waiter: .handler { results.append($0.result) }, timeLimit: timeLimited ? .seconds(30) : nil) { entry, id in
            entry.prepareNop()
            driver.cancel(id)
        }
        #expect(results == [-ECANCELED], "the waiter is told at once")
        #expect(driver.state(of: id) == nil, "the slot is free")
        #expect(driver.inFlight == 0)
        // The spent entry reaches the kernel as an ignored NOP; the ring goes on working.
        let later = Results()
        driver.queueNop(later, tag: 1, timeLimit: timeLimited ? .seconds(30) : nil)
        driver.run { later.count == 1 }
        #expect(later.byTag[1] == [0])
        #expect(results == [-ECANCELED], "nothing more for the refused operation")
        #expect(driver.inFlight == 0)
        finish(driver)
    }
}
