/// Waits for the first of several events and runs the handler of the branch that won, in the
/// calling task; losing branches take nothing.
///
/// ```swift
/// // tokio: loop { select! { v = rx.recv() => .., _ = sleep(tick) => .. } }
/// loop: while true {
///     let event: Event = try await select(
///         .receive(from: inbox) { value in value.map(Event.message) ?? .closed },
///         .sleep(for: .milliseconds(100)) { .tick }
///     )
///     ...
/// }
/// ```
///
/// **Never loses a value.** Branches are polled, not raced: each select first asks its branches
/// (in a rotating order, or in argument order when `biased`) whether their event is ready and
/// takes it only from the first that is. When none is, it arms a watch on every branch, sleeps
/// until one fires, and polls again. Across any loop of selects every value sent on a channel is
/// received exactly once, in each producer's order.
///
/// Branches: ``SelectBranch/receive(from:then:)-(MPSC.Receiver<Value>,_)`` and
/// ``SelectBranch/send(_:to:then:)`` on MPSC channels, broadcast receives, watch changes,
/// oneshot values, timers (``SelectBranch/sleep(for:then:)``), and any async operation
/// (``SelectBranch/operation(_:then:)``, run as a child task and cancelled if it loses).
///
/// Cancel safety: cancel safe: branches are polled, never raced, so a select stopped by
/// cancellation or a deadline before a branch won has taken nothing from any branch; a branch's
/// value is taken only by the select that runs its handler.
///
/// - Parameters:
///   - biased: poll the branches in argument order every time (tokio's `biased;`), so the first
///     ready branch always wins. By default the starting branch rotates, so that a busy branch
///     cannot starve the others.
///   - branches: the events to wait for, each with its handler.
///   - otherwise: run when no branch is ready on the first poll (tokio's `else`): the select then
///     never waits.
///   - isolation: the caller's actor, where the handlers run (the default is right).
/// - Returns: what the winning branch's handler returned.
/// - Throws: what the winning handler threw; `CancellationError` if the task is cancelled (or
///   the deadline of its ``withDeadline(_:isolation:_:)`` scope passes) before a branch won, in
///   which case no branch took anything.
@inlinable public func select<Output>(
    biased: Bool = false,
    _ branches: SelectBranch<Output>...,
    otherwise: (() async throws -> Output)? = nil,
    isolation: isolated (any Actor)? = #isolation
) async throws -> Output {
    precondition(!branches.isEmpty, "select needs at least one branch")
    // A plain loop: a key path here would be instantiated at run time on every call.
    var operations: [@Sendable () async -> Void] = []
    for branch in branches {
        if let start = branch.operation { operations.append(start()) }
    }
    let handler: () async throws -> Output
    if operations.isEmpty {
        handler = try await chooseBranch(branches, biased: biased, otherwise: otherwise)
    } else {
        // Operation branches run as children; whichever branch wins, the others are cancelled
        // and awaited before the handler runs.
        handler = try await withThrowingTaskGroup(of: Void.self) { group in
            for operation in operations { group.addTask { await operation() } }
            defer { group.cancelAll() }
            return try await chooseBranch(branches, biased: biased, otherwise: otherwise)
        }
    }
    return try await handler()
}

/// Polls, arms, waits and polls again until a branch is ready; returns its handler.
@usableFromInline func chooseBranch<Output>(
    _ branches: [SelectBranch<Output>],
    biased: Bool,
    otherwise: (() async throws -> Output)?,
    isolation: isolated (any Actor)? = #isolation
) async throws -> () async throws -> Output {
    let count = branches.count
    let start = biased || count == 1 ? 0 : SelectSignal.rotatingStart(count: count)
    var signal: SelectSignal?
    var watches: [SelectWatch] = []
    defer { for watch in watches { watch.disarm?() } }
    while true {
        for offset in 0..<count {
            let index = start + offset < count ? start + offset : start + offset - count
            if let handler = branches[index].attempt() { return handler }
        }
        if let otherwise { return otherwise }
        try checkWaitCancellation()
        for watch in watches { watch.disarm?() }
        watches.removeAll(keepingCapacity: true)
        let waker = signal ?? SelectSignal()
        signal = waker
        for branch in branches { watches.append(branch.watch(waker)) }
        await waker.wait()
    }
}
