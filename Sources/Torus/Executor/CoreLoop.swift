import Synchronization
import Glibc
import TorusRing

/// The core's event loop.
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
        guard let ring else { return }
        while true {
            runReadyJobs()
            drainMailbox()
            retryPendingCancels()

            if stopping && local.isEmpty && operations.inFlight == 0 && !doorbellArmed && mailbox.isEmpty {
                break
            }

            if !local.isEmpty {
                if ring.pendingSubmissions > 0 || operations.inFlight > 0 {
                    ring.submitAndGetEvents()
                }
                reapCompletions(ring)
                continue
            }

            if reapCompletions(ring) > 0 { continue }

            // Park handshake with `wakeIfParked()`: announce, then look at the mailbox once more.
            // Both sides use sequentially consistent operations, so either we see the producer's
            // message here or the producer sees `parked == true` and rings the doorbell.
            parked.store(true, ordering: .sequentiallyConsistent)
            if !mailbox.isEmpty {
                parked.store(false, ordering: .sequentiallyConsistent)
                continue
            }
            statistics.parks &+= 1
            ring.submitAndWait(1)
            parked.store(false, ordering: .sequentiallyConsistent)
            reapCompletions(ring)
        }
    }

    private func runReadyJobs() {
        var budget = local.count
        let executor = asUnownedTaskExecutor()
        while budget > 0, let job = local.pop() {
            budget -= 1
            statistics.jobsRun &+= 1
            // Only this thread writes it: a relaxed load and store, not a locked add (which
            // cost 5% of a spawn + await).
            jobsStarted.store(jobsStarted.load(ordering: .relaxed) &+ 1, ordering: .relaxed)
            job.runSynchronously(on: executor)
        }
    }

    private func drainMailbox() {
        let count = mailbox.drain { item in
            switch item {
            case .job(let job): local.push(job)
            case .closure(let work): work()
            case .cancel(let id): cancelOperation(id)
            case .timer(let job, let nanoseconds): armTimer(job, nanoseconds: nanoseconds)
            case .stop: beginStopping()
            }
        }
        statistics.mailboxMessages &+= UInt64(count)
    }

    @discardableResult
    func reapCompletions(_ ring: Ring) -> Int {
        var total = 0
        while true {
            let count = ring.reapBatch { completion in handle(completion) }
            total += count
            if count == 0 { break }
        }
        statistics.completions &+= UInt64(total)
        return total
    }

    private func handle(_ completion: Completion) {
        switch completion.userData {
        case ReservedUserData.doorbell:
            // The read returns the 8 bytes written; at shutdown it is cancelled instead.
            if completion.result > 0 { statistics.wakeupsByDoorbell &+= 1 }
            doorbellArmed = false
            if !stopping { armDoorbell() }
        case ReservedUserData.wake:
            statistics.wakeupsByMessageRing &+= 1
        case ReservedUserData.cancelRequest, ReservedUserData.ignored:
            break
        default:
            let id = OperationID(userData: completion.userData)
            guard let (waiter, keepAlive) = operations.complete(id, more: completion.hasMore) else { return }
            defer { withExtendedLifetime(keepAlive) {} }
            switch waiter {
            case .continuation(let continuation): continuation.resume(returning: completion.result)
            case .job(let job): local.push(job)
            case .handler(let handler): handler(completion)
            case .none: break
            }
        }
    }

    /// Keeps one 8-byte read outstanding on the eventfd, so a write from any thread wakes us.
    func armDoorbell() {
        guard let ring, !doorbellArmed, let entry = ring.nextEntry(reserving: 0) else { return }
        // SAFETY: doorbellBuffer lives until close(), which runs after the loop has exited, and
        // the loop only exits once this read has completed (doorbellArmed == false).
        entry.prepareRead(fd: doorbellFD, buffer: doorbellBuffer, length: 8, offset: 0)
        entry.setUserData(ReservedUserData.doorbell)
        doorbellArmed = true
    }

    /// Wakes the core if it is parked (or about to park). Callable from any thread.
    func wakeIfParked() {
        guard parked.load(ordering: .sequentiallyConsistent),
              parked.exchange(false, ordering: .sequentiallyConsistent) else { return }
        if canMessageRing, let sender = Core.current, sender !== self, sender.sendWake(to: self) {
            return
        }
        doorbell.withLock { eventFD in eventFD?.signal() }
    }

    /// Queues an `IORING_OP_MSG_RING` on this (the sender's) ring that posts a wake-up CQE on
    /// `target`'s ring. It goes out with this core's next `io_uring_enter`, at the end of the
    /// current turn, batched with whatever else the turn submitted.
    private func sendWake(to target: Core) -> Bool {
        guard !stopping, let ring, let entry = ring.nextEntry(reserving: Core.cancelReserve) else { return false }
        entry.prepareMessageRing(targetRingFD: target.ringFD, result: 0, userData: ReservedUserData.wake)
        entry.setUserData(ReservedUserData.ignored)
        entry.addFlags(.skipSuccess)
        return true
    }

    // MARK: Stopping

    /// Stop accepting ring work, cancel everything in flight (`IORING_ASYNC_CANCEL_ANY`), and let
    /// the loop run until every final completion has been seen.
    private func beginStopping() {
        guard !stopping else { return }
        stopping = true
        guard let ring else { return }
        if let entry = ring.nextEntry(reserving: 0) {
            entry.prepareCancelAll()
            entry.setUserData(ReservedUserData.cancelRequest)
        }
    }

    /// Releases the ring, the eventfd and the mailbox once the loop has exited (any thread).
    /// Anything that still arrives is run on Swift's global executor.
    func close() {
        lifecycle.store(CoreLifecycle.stopped.rawValue, ordering: .sequentiallyConsistent)
        mailbox.close { Core.runElsewhere($0) }
        while let job = local.pop() { globalConcurrentExecutor.enqueue(job) }
        receiveBuffers.close()
        ring = nil
        doorbell.withLock { $0 = nil }
    }
}
