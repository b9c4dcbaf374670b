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

@Suite("Ring driver: a handler that fills the submission queue", .enabled(if: ringAvailable, ringUnavailableReason))
struct DriverNestedReapTests {
    /// A completion handler that needs an SQE while the queue is full (a send queue sending on
    /// from a completion) makes `nextEntry` submit and reap from inside the handler. The
    /// completions reaped there must wait until the rest of the interrupted batch has been
    /// handled: handled at once, a later completion of one multishot receive would overtake an
    /// earlier one. (Before, the nested reap also copied into the same buffer the outer batch
    /// was being read from.)
    @Test("completions reaped inside a handler are handled after the batch it interrupted, in the kernel's order")
    func nestedReapKeepsOrder() throws {
        let driver = try makeDriver(entries: 16)
        var order: [Int] = []
        func nop(_ tag: Int, then: (() -> Void)? = nil) {
            let id = driver.operations.reserve(keepAlive: nil)
            driver.submit(
                id,
                waiter: .handler { _ in
                    order.append(tag)
                    then?()
                }, timeLimit: nil
            ) { entry, _ in entry.prepareNop() }
        }
        // The first NOP's handler queues twenty more and reaps, as `nextEntry` does when the
        // kernel will not take queued entries (EBUSY while its completion queue overflows, on
        // kernels that refuse then; 6.18 keeps taking them, so the test reaps itself).
        nop(0) {
            for tag in 100..<120 { nop(tag) }
            driver.submitAndReap()
        }
        for tag in 1..<8 { nop(tag) }
        driver.run { order.count == 28 }
        #expect(order == Array(0..<8) + Array(100..<120), "handled in the order \(order)")
        #expect(driver.statistics.completionsDeferred == 20, "\(driver.statistics.completionsDeferred) completions deferred")
        finish(driver)
    }
}
