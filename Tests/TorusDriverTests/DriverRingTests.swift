import Glibc
import Testing
import TorusRing

@testable import Torus

@Suite("Ring driver on a bare ring", .enabled(if: ringAvailable, ringUnavailableReason))
struct DriverRingTests {
    @Test("a NOP goes through and its slot is freed")
    func nopRoundTrip() throws {
        let driver = try makeDriver()
        let results = Results()
        let id = driver.queueNop(results, tag: 1)
        #expect(driver.state(of: id) == .inFlight)
        #expect(driver.inFlight == 1)
        driver.run { results.count == 1 }
        #expect(results.byTag[1] == [0])
        #expect(driver.state(of: id) == nil, "the final completion freed the slot")
        #expect(driver.inFlight == 0)
        #expect(driver.statistics.completions >= 1)
        finish(driver)
    }

    @Test("a completion or cancel for a reused slot's old generation is ignored")
    func staleGeneration() throws {
        let driver = try makeDriver()
        let results = Results()
        let old = driver.queueNop(results, tag: 1)
        driver.run { results.count == 1 }
        let reused = driver.queueTimeout(.seconds(30), results, tag: 2)
        #expect(reused.index == old.index, "the freed slot is the next one taken")
        #expect(reused.generation == old.generation + 1)
        #expect(!driver.isLive(old))

        // The table refuses the old id outright.
        #expect(driver.acceptsCompletion(for: old) == false)
        #expect(driver.state(of: reused) == .inFlight)

        // A cancel for the old id queues nothing and leaves the new operation alone.
        let queued = driver.ring!.pendingSubmissions
        driver.cancel(old)
        #expect(driver.ring!.pendingSubmissions == queued)
        #expect(driver.state(of: reused) == .inFlight)

        // A real CQE carrying the old user_data (posted to our own ring with MSG_RING) reaches
        // the driver and is dropped: the timeout in the reused slot keeps waiting.
        if driver.canMessageRing {
            let before = driver.statistics.completions
            let entry = driver.nextEntry()
            entry.prepareMessageRing(targetRingFD: driver.ringFD, result: 0, userData: old.userData)
            entry.setUserData(ReservedUserData.ignored)
            driver.run { driver.statistics.completions >= before + 2 }
            #expect(driver.statistics.completions >= before + 2, "the MSG_RING and the stale CQE both arrived")
            #expect(results.byTag[2] == nil)
            #expect(driver.state(of: reused) == .inFlight)
        }

        driver.cancel(reused)
        driver.run { results.byTag[2] != nil }
        #expect(results.byTag[2] == [-ECANCELED])
        #expect(driver.inFlight == 0)
        finish(driver)
    }

    @Test("with the SQ full, operations wait for room and all are submitted")
    func fullSubmissionQueue() throws {
        let driver = try makeDriver(entries: 16)
        let results = Results()
        // Far more than the ring holds, queued without entering the kernel: `nextEntry`
        // submits whenever only the cancel reserve is left. Every third carries a linked
        // timeout, whose pair must never be split across submissions.
        for tag in 0..<200 {
            driver.queueNop(results, tag: tag, timeLimit: tag % 3 == 0 ? .seconds(30) : nil)
            #expect(driver.ring!.submissionSpaceLeft >= 1)
        }
        #expect(driver.ring!.submitsToMakeRoom > 0)
        driver.run { results.count == 200 }
        #expect(results.count == 200)
        #expect((0..<200).allSatisfy { results.byTag[$0] == [0] }, "each NOP completed once, successfully")
        #expect(driver.inFlight == 0)
        finish(driver)
    }

    @Test("a tiny CQ with many NOPs overflows and nothing is lost")
    func completionQueueOverflow() throws {
        // No CQSIZE: the CQ is twice the SQ, 32 entries, for 2,000 completions reaped only
        // when the SQ cannot take more (the kernel keeps the overflow, IORING_FEAT_NODROP).
        let ladder: [SetupFlags] = [[.singleIssuer, .deferTaskrun, .submitAll], [.coopTaskrun, .taskrunFlag, .submitAll], []]
        let driver = try makeDriver(entries: 16, ladder: ladder)
        let results = Results()
        for tag in 0..<2_000 { driver.queueNop(results, tag: tag) }
        // Queuing entered the kernel ~250 times and reaped only if the kernel refused entries:
        // more completions are due than the CQ holds, so the rest wait in its overflow list.
        #expect(driver.ring!.submitsToMakeRoom >= 200)
        #expect(2_000 - Int(driver.statistics.completions) > 32, "the CQ overflowed")
        driver.run { results.count == 2_000 }
        #expect(results.count == 2_000)
        #expect((0..<2_000).allSatisfy { results.byTag[$0] == [0] })
        #expect(driver.inFlight == 0)
        finish(driver)
    }

    @Test("a cancel before the SQE is prepared keeps the operation from the kernel")
    func cancelBeforeSubmission() throws {
        let driver = try makeDriver()
        let id = driver.operations.reserve(keepAlive: nil)
        let queued = driver.ring!.pendingSubmissions
        driver.cancel(id)
        #expect(driver.state(of: id) == .cancelRequested)
        #expect(driver.isCancelRequested(id))
        #expect(driver.ring!.pendingSubmissions == queued, "no ASYNC_CANCEL for an operation the kernel never saw")
        driver.operations.release(id)
        #expect(driver.state(of: id) == nil)
        #expect(driver.inFlight == 0)
        finish(driver)
    }

    @Test("a cancel queued behind an operation not yet handed to the kernel reaches it")
    func cancelQueuedOperation() throws {
        let driver = try makeDriver()
        let results = Results()
        let id = driver.queueTimeout(.seconds(30), results, tag: 1)
        driver.cancel(id)
        #expect(driver.state(of: id) == .cancelSent)
        driver.cancel(id)
        #expect(driver.state(of: id) == .cancelSent, "a second cancel sends nothing more")
        driver.run { results.count == 1 }
        #expect(results.byTag[1] == [-ECANCELED])
        #expect(driver.inFlight == 0)
        finish(driver)
    }

    @Test("a cancel racing the completion: the real result wins, the late retry is ignored")
    func cancelRacingCompletion() throws {
        let driver = try makeDriver()
        let results = Results()
        let id = driver.queueNop(results, tag: 1)
        // The NOP completes in the kernel; its CQE waits, unreaped, while the cancel is sent.
        driver.ring!.submitAndGetEvents()
        driver.cancel(id)
        #expect(driver.state(of: id) == .cancelSent)
        driver.run { results.count == 1 }
        #expect(results.byTag[1] == [0], "the operation had finished: its result, not -ECANCELED")
        #expect(driver.state(of: id) == nil)

        // A retry for it that was still pending finds a stale id and queues nothing.
        driver.pendingCancels.append(id)
        let queued = driver.ring!.pendingSubmissions
        driver.retryPendingCancels()
        #expect(driver.pendingCancels.isEmpty)
        #expect(driver.ring!.pendingSubmissions == queued)
        #expect(driver.inFlight == 0)
        finish(driver)
    }

    @Test(
        "a cancel that finds no SQE waits and is retried when room appears",
        .enabled(if: singleIssuerAvailable, "needs IORING_SETUP_SINGLE_ISSUER (kernel 6.0) to make the SQ refuse"))
    func cancelRetriedWhenRoomAppears() throws {
        let driver = try makeDriver(entries: 16)
        try #require(driver.ring!.setupFlags.contains(.singleIssuer))
        let results = Results()
        let id = driver.queueTimeout(.seconds(30), results, tag: 1)
        // Fill the SQ to the last entry, cancel reserve included.
        while driver.ring!.submissionSpaceLeft > 0 {
            let entry = try #require(driver.ring!.nextEntry(reserving: 0))
            entry.prepareNop()
            entry.setUserData(ReservedUserData.ignored)
        }
        // From another thread the SINGLE_ISSUER ring refuses to submit (EEXIST), so the full
        // SQ stays full and the cancel finds no entry: the one way to reach this state without
        // a test hook. The thread is joined before the driver is touched again.
        guard let thread = OSThread.start(name: "driver-test", { driver.cancel(id) }) else {
            Issue.record("no thread")
            return
        }
        thread.join()
        #expect(driver.state(of: id) == .cancelWaiting)
        #expect(driver.pendingCancels == [id])

        driver.submitAndReap()
        driver.retryPendingCancels()
        #expect(driver.state(of: id) == .cancelSent)
        #expect(driver.pendingCancels.isEmpty)
        driver.run { results.count == 1 }
        #expect(results.byTag[1] == [-ECANCELED])
        #expect(driver.inFlight == 0)
        finish(driver)
    }

    @Test("a callback timer fires with -ETIME and frees its slot")
    func callbackTimer() throws {
        let driver = try makeDriver()
        var fired: [Int32] = []
        let id = driver.armCallbackTimer(after: .milliseconds(1)) { fired.append($0) }
        driver.run { !fired.isEmpty }
        #expect(fired == [-ETIME])
        #expect(!driver.isLive(id))
        #expect(driver.timersArmed == 1)
        finish(driver)
    }

    @Test("the doorbell wakes a waiting driver and is re-armed; stopping cancels it")
    func doorbell() throws {
        let driver = try makeDriver()
        #expect(driver.doorbellArmed)
        driver.wake(from: nil)
        driver.run { driver.statistics.wakeupsByDoorbell == 1 }
        #expect(driver.statistics.wakeupsByDoorbell == 1)
        #expect(driver.doorbellArmed, "re-armed after the wake-up")
        driver.beginStopping()
        #expect(driver.stopping)
        driver.run { driver.isIdle }
        #expect(!driver.doorbellArmed)
        // Stopping: a timer is refused at once, with an id that is already stale.
        var refused: [Int32] = []
        let id = driver.armCallbackTimer(after: .seconds(1)) { refused.append($0) }
        #expect(refused == [-ECANCELED])
        #expect(!driver.isLive(id))
        #expect(driver.inFlight == 0)
        driver.close()
    }
}
