// The README's ten-line program, plus a line naming every public error type, so that a type a
// user must catch but cannot name fails this build.
import Torus

try Runtime.run(RuntimeConfiguration(cores: .count(1))) {
    let (requests, inbox) = MPSC.bounded(String.self, capacity: 8)
    spawn {
        for name in ["ring", "core", "task"] { try await requests.send(name) }
        requests.finish()
    }
    while let name = try await withTimeout(.seconds(1), { try await inbox.receive() }) {
        print("hello, \(name)")
    }
}

func describe(_ error: any Error) -> String {
    switch error {
    case let error as RingSetupError: "ring setup: \(error)"
    case let error as RuntimeError: "runtime: \(error)"
    case let error as IOError: "I/O: \(error)"
    case let error as TimeoutError: "timeout: \(error)"
    case let error as SendError<Int>: "send: \(error.reason)"
    case let error as TrySendError<Int>: "try send: \(error.value)"
    case let error as BroadcastError: "broadcast: \(error)"
    case let error as WatchError: "watch: \(error)"
    case let error as OneshotError: "oneshot: \(error)"
    case let error as ReadLimitExceeded: "limit: \(error)"
    case let error as UnexpectedEndOfStream: "end: \(error)"
    case let error as SignalError: "signal: \(error)"
    case let error as SocketAddressError: "address: \(error)"
    case let error as HostResolutionError: "resolve: \(error)"
    case let error as ConnectError: "connect: \(error)"
    default: "other: \(error)"
    }
}
print(describe(TimeoutError(duration: .seconds(1))))

// A RawSpan view borrows its buffer through `@_lifetime`, which Torus compiles with an
// experimental feature; a consumer uses it without enabling anything.
let spanned = IOBuffer(Array("span".utf8))
precondition(spanned.rawSpan.byteCount == 4 && spanned.withBytes { $0.byteCount } == 4)
