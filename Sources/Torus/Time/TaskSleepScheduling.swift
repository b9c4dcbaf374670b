import TorusChannels

// `Task.sleep` on a Torus core, served by the ring.
//
// Swift 6.2+ lets an executor take over delayed jobs through the SPI `SchedulingExecutor`
// (`@_spi(ExperimentalScheduling)`): `Task.sleep(for:)`, `Task.sleep(nanoseconds:)` and
// `ContinuousClock().sleep` then call `enqueue(_:after:tolerance:clock:)` on the core, and the
// core arms an `IORING_OP_TIMEOUT` whose completion enqueues the job. Without it every sleep
// would fire on a Dispatch timer thread and hop back through the mailbox.
//
// SPI can change between toolchains, so it lives in this one file behind a compiler check; if
// it disappears, `Task.sleep` still works (the default implementation), only slower.
#if compiler(>=6.2)
    @_spi(ExperimentalScheduling) import _Concurrency

    @_spi(TorusScheduling) extension Core: SchedulingExecutor {
        @_spi(TorusScheduling) public func enqueue<C: Clock>(
            _ job: consuming ExecutorJob, after delay: C.Duration, tolerance: C.Duration?, clock: C
        ) {
            schedule(UnownedJob(job), after: delay as? Duration)
        }

        @_spi(TorusScheduling) public func enqueue<C: Clock>(
            _ job: consuming ExecutorJob, at instant: C.Instant, tolerance: C.Duration?, clock: C
        ) {
            schedule(UnownedJob(job), after: clock.now.duration(to: instant) as? Duration)
        }

        /// Only the standard clocks (whose durations are `Swift.Duration`) route sleeps to an
        /// executor; any other clock sleeps by itself, so `nil` here cannot come from a sleep and
        /// the job simply runs.
        private func schedule(_ job: UnownedJob, after delay: Duration?) {
            guard let delay else {
                isCurrent ? local.push(job) : send(.job(job))
                return
            }
            let nanoseconds = Int64(delay.clampedNanoseconds)
            if isCurrent {
                armTimer(job, nanoseconds: nanoseconds)
            } else {
                send(.timer(job, nanoseconds: nanoseconds))
            }
        }
    }
#endif
