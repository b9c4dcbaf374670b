import ServiceLifecycle
import Torus

/// A `Service` whose work runs on a Torus core: the service's `run()` is spawned on the
/// runtime (on the core `placement` picks) and awaited.
///
/// The graceful shutdown reaches it there: the spawned task inherits the service's task-local
/// context, which is where `ServiceGroup` keeps its shutdown state, so `gracefulShutdown()`,
/// `cancelWhenGracefulShutdown` and `withGracefulShutdownHandler` work on the core, in the
/// work and in the tasks it spawns. Cancelling the service cancels the task on the core.
///
/// ```swift
/// let server = CoreService(on: torus.handle, placement: .core(0)) {
///     let listener = try await TCPListener.bind(port: 8080)
///     try await cancelWhenGracefulShutdown { try await acceptLoop(listener) }
/// }
/// ```
public struct CoreService: Service {
    private let handle: RuntimeHandle
    private let placement: Placement
    private let body: @Sendable () async throws -> Void

    /// A service that runs `body` on `handle`'s runtime.
    ///
    /// - Parameters:
    ///   - handle: the runtime, often ``TorusRuntimeService/handle``.
    ///   - placement: the core it runs on (its task stays there across every `await`).
    ///   - body: the service's work; the service ends when it returns or throws.
    public init(on handle: RuntimeHandle, placement: Placement = .spread, _ body: @escaping @Sendable () async throws -> Void) {
        self.handle = handle
        self.placement = placement
        self.body = body
    }

    /// A service that runs another `service`'s `run()` on `handle`'s runtime.
    public init(_ service: some Service, on handle: RuntimeHandle, placement: Placement = .spread) {
        self.init(on: handle, placement: placement) { try await service.run() }
    }

    /// Runs the work on its core and returns or throws as it does.
    ///
    /// - Throws: what the work throws; ``RuntimeError/shuttingDown`` if the runtime stopped
    ///   before the work could start.
    ///
    /// Cancel safety: cancelling it cancels the work on the core and waits for it to end.
    public func run() async throws {
        // Spawned from this task, so the spawned one copies its task-locals: the group's
        // graceful-shutdown state among them.
        let work = handle.spawn(on: placement, body)
        try await withTaskCancellationHandler {
            try await work.value
        } onCancel: {
            work.cancel()
        }
    }
}
