import Glibc
import Synchronization
import TorusRing

/// The core's event loop: the executor's scheduling around its driver's ring.
///
/// One turn: run the jobs that are ready (not the ones they enqueue: those wait for the next
/// turn, so I/O keeps flowing), take the whole mailbox, then talk to the kernel once: if there
/// is still work, `io_uring_enter` without waiting to submit and collect completions (skipped
/// entirely when nothing was submitted and nothing is in flight); if not, park in
/// `io_uring_enter` until a completion, a `MSG_RING` from another core or the eventfd doorbell
/// wakes it. That is at most one system call per turn however many jobs and completions it had.
extension Core {
    func runLoop() {
        assertOnCore()
        // Bound once for the whole loop: each `self.driver.method()` may otherwise retain and
        // release the driver around the call, several atomic operations per turn.
        let driver = self.driver
        guard driver.ring != nil else { return }
        while true {
            runReadyJobs()
            drainMailbox()
            driver.retryPendingCancels()
            takeJobsFromDriver(driver)
            // Before this turn enters the kernel: its receives take from the posted buffers.
            driver.receiveBuffers.refill()

            if driver.stopping && local.isEmpty && driver.isIdle && mailbox.isEmpty {
                break
            }

            if !local.isEmpty {
                driver.submitAndReap()
                takeJobsFromDriver(driver)
                continue
            }

            if driver.reapCompletions() > 0 {
                takeJobsFromDriver(driver)
                continue
            }

            // A stopping core parks: its cancels are out, and only completions end the stop.
            if busyPollNanoseconds > 0, !driver.stopping, pollForWork(driver) { continue }

            // Park handshake with `wakeIfParked()`: announce, then look at the mailbox once more.
            // Both sides use sequentially consistent operations, so either we see the producer's
            // message here or the producer sees `parked == true` and rings the doorbell.
            parked.store(true, ordering: .sequentiallyConsistent)
            if !mailbox.isEmpty {
                parked.store(false, ordering: .sequentiallyConsistent)
                continue
            }
            executorStatistics.parks &+= 1
            driver.waitForCompletion()
            parked.store(false, ordering: .sequentiallyConsistent)
            driver.reapCompletions()
            takeJobsFromDriver(driver)
        }
    }

    /// The opt-in busy-poll window (``RuntimeConfiguration/busyPoll``): looks for work until
    /// some arrives or the window ends, without parking. Returns whether work arrived.
    ///
    /// Producers see the core unparked and only push to its mailbox (no doorbell), so the
    /// mailbox is the first place to look. Completions need this thread in the kernel: with
    /// `DEFER_TASKRUN` the kernel posts them only when the ring's owner calls `io_uring_enter`,
    /// so every eighth round makes a non-blocking one while anything is queued or in flight.
    /// That also submits what the turn queued that no completion here waits for (a `MSG_RING`
    /// waking a parked core, the stop's cancel-everything): parking used to send them; left
    /// queued, they would wait for the end of the window.
    private func pollForWork(_ driver: RingDriver) -> Bool {
        let deadline = monotonicNanoseconds() &+ busyPollNanoseconds
        // Idle for the stall watchdog, as a parked core is.
        polling.store(true, ordering: .relaxed)
        defer { polling.store(false, ordering: .relaxed) }
        var round: UInt32 = 0
        while true {
            if !mailbox.isEmpty { break }
            if round & 7 == 0 {
                // Enters the kernel only with something queued or in flight; else a CQ check.
                if driver.submitAndReap() > 0 {
                    takeJobsFromDriver(driver)
                    break
                }
                if monotonicNanoseconds() >= deadline { return false }
            }
            round &+= 1
            spinWaitHint()
        }
        executorStatistics.busyPollsWithWork &+= 1
        return true
    }

    private func runReadyJobs() {
        var budget = local.count
        let executor = asUnownedTaskExecutor()
        while budget > 0, let job = local.pop() {
            budget -= 1
            executorStatistics.jobsRun &+= 1
            // Only this thread writes it: a relaxed load and store, not a locked add (which
            // cost 5% of a spawn + await).
            jobsStarted.store(jobsStarted.load(ordering: .relaxed) &+ 1, ordering: .relaxed)
            job.runSynchronously(on: executor)
        }
    }

    /// Moves the jobs of timers that fired (`Task.sleep`) from the driver to the run queue: after
    /// every reap, and once per turn for a reap inside a job (a full SQ makes `nextEntry` reap).
    @inline(__always)
    private func takeJobsFromDriver(_ driver: RingDriver) {
        while let job = driver.readyJobs.pop() { local.push(job) }
    }

    private func drainMailbox() {
        let count = mailbox.drain { item in
            switch item {
            case .job(let job): local.push(job)
            case .closure(let work): work()
            case .cancel(let id): driver.cancel(id)
            case .timer(let job, let nanoseconds): armTimer(job, nanoseconds: nanoseconds)
            case .stop: driver.beginStopping()
            }
        }
        executorStatistics.mailboxMessages &+= UInt64(count)
    }

    /// Wakes the core if it is parked (or about to park). Callable from any thread: through the
    /// calling core's ring (`MSG_RING`) when there is one, the eventfd otherwise.
    func wakeIfParked() {
        guard parked.load(ordering: .sequentiallyConsistent),
            parked.exchange(false, ordering: .sequentiallyConsistent)
        else { return }
        driver.wake(from: Core.current?.driver)
    }

    // MARK: Stopping

    /// Releases the driver (ring, eventfd, receive buffers) and the mailbox once the loop has
    /// exited (any thread). Anything that still arrives is run on Swift's global executor.
    func close() {
        lifecycle.store(CoreLifecycle.stopped.rawValue, ordering: .sequentiallyConsistent)
        mailbox.close { Core.runElsewhere($0) }
        while let job = driver.readyJobs.pop() { globalConcurrentExecutor.enqueue(job) }
        while let job = local.pop() { globalConcurrentExecutor.enqueue(job) }
        driver.close()
    }
}
