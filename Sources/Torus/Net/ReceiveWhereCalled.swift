import Glibc

/// The public stream reads (`TCPStream`, `UnixStream`, `ReadHalf`) run where they are called,
/// without an executor switch on the way in or out.
///
/// A plain `nonisolated async` read switches to the task's executor on entry, and its caller
/// switches back after it: each `swift_task_switch` reads the task's executor preference under
/// a lock, 2 of the 8 switches of a mini-redis request (docs/benchmarks.md). A caller without
/// an actor is a task on its core and receives right there. An actor's jobs may run on any
/// core's thread or on none, and an operation must be submitted and settled on one core, so a
/// read from an actor receives on the task's own core into a buffer of that call's own and
/// appends the bytes to the caller's buffer back on the actor.
extension SocketHandle {
    /// `IORING_OP_RECV` into the free space of `buffer`, from any isolation.
    nonisolated(nonsending) func receiveWhereCalled(into buffer: IOBuffer, maxLength: Int) async throws -> Int {
        // Through a local: `#isolation == nil` written in the condition crashes the 6.3.1
        // compiler at -Onone (see File.read(into:at:maxLength:)).
        let callerIsolation = #isolation
        if callerIsolation == nil, Core.isTaskOnItsPreferredCore { return try await receive(into: buffer, maxLength: maxLength) }
        return try await receiveFromActor(into: buffer, maxLength: maxLength)
    }

    /// A receive called from an actor (or anywhere else than the task's own core). The actor is re-entered while the receive waits, and
    /// bytes taken from a stream cannot be put back: so a second read into the same buffer
    /// meanwhile is refused (`EBUSY`) before it takes anything, and the space the first one
    /// asked for stays its own unless the actor fills the buffer itself, which traps as any
    /// ``IOBuffer/append(_:)`` past the capacity does.
    private nonisolated(nonsending) func receiveFromActor(into buffer: IOBuffer, maxLength: Int) async throws -> Int {
        guard !buffer.awaitsStreamBytes else { throw IOError(operation: "recv", address: address, errno: .resourceBusy) }
        // No room still goes to the core: a closed stream's read throws there, as inline.
        let length = max(0, min(maxLength, buffer.freeCapacity, Self.actorReceiveLimit))
        buffer.awaitsStreamBytes = true
        defer { buffer.awaitsStreamBytes = false }
        let bytes = try await receiveOnTaskCore(length: length)
        buffer.append(bytes)
        return bytes.count
    }

    /// The most one read from an actor receives (its scratch buffer's size, allocated per call).
    static var actorReceiveLimit: Int { 1 << 20 }

    /// Receives up to `length` bytes on the calling task's core (a plain `nonisolated async`
    /// function runs there) into a buffer of its own.
    @concurrent private func receiveOnTaskCore(length: Int) async throws -> [UInt8] {
        let scratch = IOBuffer(capacity: max(length, 1))
        _ = try await receive(into: scratch, maxLength: length)
        return scratch.bytes
    }
}
