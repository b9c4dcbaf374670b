import Glibc
import Logging
import MiniRedis
import ServiceLifecycle
import Torus
import TorusServiceLifecycle
import UnixSignals

extension MiniRedisServer {
    /// Time the runtime's tasks get to end after a signal before they are cancelled.
    static let gracePeriod = Duration.seconds(5)

    /// Runs the server as services of one `ServiceGroup` and returns the exit status: 0 when
    /// the group ended by itself, 128 + the signal after a shutdown a signal started. A
    /// start-up failure exits 1 from here (``fail(_:)``).
    ///
    /// The group: the Torus runtime (first, so that it stops last), the redis server on core 0
    /// (its accept loops and connections are child tasks on every core), the metrics endpoint
    /// if asked for, and ``ShutdownSignals``. A signal ends the last, the group asks the
    /// others to shut down in reverse order, `cancelWhenGracefulShutdown` cancels the server's
    /// task and with it every connection on every core, and the runtime stops.
    func serve() async -> Int32 {
        unblockShutdownSignals()
        // As redis: a standard output whose reader is gone loses the log lines (writeWhole and the
        // log handler get EPIPE), it does not kill the server with SIGPIPE.
        _ = Glibc.signal(SIGPIPE, SIG_IGN)
        let logger = makeLogger(loglevel)
        // Before anything listens: a signal from then on shuts down gracefully.
        let signals = await ShutdownSignals(logger: logger)
        let torus: TorusRuntimeService
        do {
            torus = try TorusRuntimeService(RuntimeConfiguration(cores: coreLayout, logger: logger), gracePeriod: Self.gracePeriod)
        } catch {
            fail("\(error)")
        }
        let server = Server(
            maxClients: maxclients, idleTimeoutSeconds: timeout, maxRequestSize: maxRequestSize!,
            pubsubOutputLimit: pubsubOutputLimit!, log: { level, message in logger.log(level: level, "\(message)") })
        let address = await resolveAddress(on: torus.handle)
        let coreCount = torus.handle.cores.count
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = [.init(service: torus, serviceName: "torus-runtime")]
        let redis = CoreService(on: torus.handle, placement: .core(0)) {
            do {
                try await cancelWhenGracefulShutdown {
                    try await server.run(on: address) { bound in
                        say("listening on \(bound)")
                        logger.notice("ready to accept connections", metadata: ["port": "\(bound.port ?? 0)", "cores": "\(coreCount)"])
                    }
                }
            } catch is CancellationError {
                // Cancelled by the graceful shutdown: the normal way to stop.
            }
        }
        services.append(.init(service: redis, serviceName: "redis"))
        if let endpoint = bindMetricsEndpoint(on: torus.handle, statistics: server.statistics, logger: logger) {
            let metrics = CoreService(on: torus.handle, placement: .core(coreCount - 1)) {
                do { try await cancelWhenGracefulShutdown { try await endpoint.run() } } catch is CancellationError {}
            }
            services.append(.init(service: metrics, serviceName: "metrics"))
        }
        services.append(.init(service: signals, successTerminationBehavior: .gracefullyShutdownGroup, serviceName: "signals"))
        let group = ServiceGroup(configuration: ServiceGroupConfiguration(services: services, logger: logger))
        do {
            try await group.run()
        } catch {
            // A service's error (ServiceGroup rethrows the first); the group logged which.
            fail("\(error)")
        }
        guard let signal = signals.signal else {
            logger.notice("server stopped")
            return 0
        }
        logger.notice("shut down after \(signal), exiting with status \(128 + signal.rawValue)")
        return 128 + signal.rawValue
    }

    /// `--host` and `--port` as an address (a name is resolved on the runtime's blocking
    /// pool); a start-up failure if there is none.
    private func resolveAddress(on runtime: RuntimeHandle) async -> SocketAddress {
        let host = host
        let port = port
        do {
            guard let address = try await runtime.spawn(on: .core(0), { try await SocketAddress.resolve(host: host, port: port).first }).value else {
                fail("no address for \(host)")
            }
            return address
        } catch {
            fail("\(error)")
        }
    }

    /// The metrics endpoint, bound before the group starts so that a port in use is a
    /// start-up failure; nil without `--metrics-port`.
    private func bindMetricsEndpoint(on runtime: RuntimeHandle, statistics: ServerStatistics, logger: Logger) -> MetricsEndpoint? {
        guard let address = try? metricsAddress else { return nil }
        do {
            let endpoint = try MetricsEndpoint(
                binding: address, exposition: PrometheusExposition(runtime: runtime, statistics: statistics), logger: logger)
            let bound = try endpoint.address
            logger.notice("metrics on http://\(bound)/metrics")
            return endpoint
        } catch {
            fail("--metrics-port: \(error)")
        }
    }
}

/// Test runners start children with signals blocked, and the mask is inherited across exec:
/// UnixSignals' handler (libdispatch installs a `sigaction` handler on Linux) would never run
/// for a signal blocked in every thread. Unblocked first, so that the threads started after
/// (the runtime's, libdispatch's) inherit the unblocked mask.
func unblockShutdownSignals() {
    var signals = sigset_t()
    sigemptyset(&signals)
    sigaddset(&signals, SIGTERM)
    sigaddset(&signals, SIGINT)
    let result = pthread_sigmask(SIG_UNBLOCK, &signals, nil)
    precondition(result == 0, "pthread_sigmask: \(result)")
}
