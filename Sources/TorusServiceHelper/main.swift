// A child process for TorusServiceLifecycle's test: a ServiceGroup with a Torus runtime
// service and a service on one of its cores, stopped by SIGTERM or SIGINT. Prints what it saw
// on standard output, one line each:
//   ready                                      the services are running
//   graceful shutdown seen on core 1           the group's shutdown reached the core's task
//   sleeper cancelled on graceful shutdown     ... and a task that task spawned
//   stubborn task cancelled after the grace period   a task outside the group's context
//   exited                                     ServiceGroup.run() returned
import Glibc
import Logging
import ServiceLifecycle
import Torus
import TorusServiceLifecycle
import UnixSignals

/// One line on standard output, written at once (no buffer to lose on exit).
func say(_ line: String) {
    let text = line + "\n"
    _ = text.withCString { write(1, $0, strlen($0)) }
}

// Test runners start children with signals blocked (the mask is inherited across exec): the
// group's handlers would never see SIGTERM. Unblocked here, before any thread starts.
var signals = sigset_t()
sigemptyset(&signals)
sigaddset(&signals, SIGTERM)
sigaddset(&signals, SIGINT)
pthread_sigmask(SIG_UNBLOCK, &signals, nil)

let gracePeriod = Duration.milliseconds(Int64(CommandLine.arguments.dropFirst().first ?? "") ?? 1000)
let torus = try TorusRuntimeService(RuntimeConfiguration(cores: .count(2)), gracePeriod: gracePeriod)

// Not spawned from a service, so the group's graceful shutdown does not reach it: the
// runtime's shutdown cancels it once the grace period is over.
torus.handle.spawn(on: .core(0)) {
    do { try await sleep(for: .seconds(3600)) } catch is CancellationError {
        say("stubborn task cancelled after the grace period")
    }
}

let worker = CoreService(on: torus.handle, placement: .core(1)) {
    let sleeper = spawn {
        do {
            try await cancelWhenGracefulShutdown { try await sleep(for: .seconds(3600)) }
        } catch is CancellationError {
            say("sleeper cancelled on graceful shutdown")
        }
    }
    say("ready")
    try await gracefulShutdown()
    say("graceful shutdown seen on core \(Core.current?.index ?? -1)")
    try await sleeper.value
}

let group = ServiceGroup(
    configuration: ServiceGroupConfiguration(
        services: [.init(service: torus), .init(service: worker)],
        gracefulShutdownSignals: [.sigterm, .sigint],
        logger: Logger(label: "torus-service-helper")))
try await group.run()
say("exited")
