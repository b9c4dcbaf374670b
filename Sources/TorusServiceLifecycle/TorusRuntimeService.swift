import ServiceLifecycle
import Torus

/// A `Service` that owns a Torus ``Runtime`` for a swift-service-lifecycle `ServiceGroup`.
///
/// The runtime starts when the service is made, so that other services can take its
/// ``handle`` before the group runs; ``run()`` waits for the group's graceful shutdown and then
/// stops the runtime with `await` ``Runtime/shutdown(gracePeriod:cancellationWait:)``: the tasks
/// still running get `gracePeriod`, then are cancelled. No thread is blocked meanwhile.
///
/// ```swift
/// let torus = try TorusRuntimeService(RuntimeConfiguration(cores: .automatic))
/// let server = CoreService(on: torus.handle, placement: .core(0)) { try await serve() }
/// let group = ServiceGroup(configuration: .init(
///     services: [.init(service: torus), .init(service: server)],   // the runtime first
///     gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
/// try await group.run()
/// ```
///
/// List it before the services that use its runtime: a `ServiceGroup` shuts its services down
/// in reverse order, so theirs end first and the runtime last.
///
/// Signals: with a `ServiceGroup`, let the group own SIGTERM and SIGINT
/// (`gracefulShutdownSignals`) and do not also make a Torus ``SignalListener`` for them; the
/// shutdown reaches the tasks on the cores through `gracefulShutdown()` and
/// `cancelWhenGracefulShutdown` (see ``CoreService``). Without a group, Torus's
/// ``SignalListener`` is the one owner.
public struct TorusRuntimeService: Service {
    /// The runtime this service stops.
    public let runtime: Runtime
    /// Time the runtime's tasks get to finish on a graceful shutdown before they are cancelled.
    public let gracePeriod: Duration
    /// Time cancelled tasks get to unwind before they are abandoned.
    public let cancellationWait: Duration

    /// A handle for spawning onto the runtime, from any service.
    public var handle: RuntimeHandle { runtime.handle }

    /// Starts a runtime with `configuration`.
    ///
    /// - Throws: ``RuntimeError``, as ``Runtime/init(_:)``.
    public init(
        _ configuration: RuntimeConfiguration = RuntimeConfiguration(),
        gracePeriod: Duration = .seconds(5), cancellationWait: Duration = .seconds(2)
    ) throws(RuntimeError) {
        self.init(runtime: try Runtime(configuration), gracePeriod: gracePeriod, cancellationWait: cancellationWait)
    }

    /// Takes over a running `runtime`: this service stops it.
    public init(runtime: Runtime, gracePeriod: Duration = .seconds(5), cancellationWait: Duration = .seconds(2)) {
        self.runtime = runtime
        self.gracePeriod = gracePeriod
        self.cancellationWait = cancellationWait
    }

    /// Waits for the group's graceful shutdown, then stops the runtime. Cancelled instead (the
    /// group is ending at once), it stops the runtime without a grace period: its tasks are
    /// cancelled straight away and get `cancellationWait` to unwind.
    ///
    /// Cancel safety: cancellation is one of its two ways to end; either way it returns only
    /// once the runtime has stopped.
    public func run() async throws {
        // Throws only CancellationError: the task was cancelled rather than asked to stop.
        let graceful = (try? await gracefulShutdown()) != nil
        await runtime.shutdown(gracePeriod: graceful ? gracePeriod : .zero, cancellationWait: cancellationWait)
    }
}
