import TorusRing

/// Awaits one `IORING_OP_NOP` round trip through the caller's ring.
///
/// It does nothing useful by itself: it is the smallest awaited completion Torus can make, and
/// so the yardstick for the cost of every other operation (one SQE, one CQE, one re-queue of the
/// task). Off a Torus core it returns at once.
///
/// Cancel safety: nothing to lose: a cancelled call returns when its NOP completes or is cancelled.
public func ringNop() async {
    guard let core = Core.current else { return }
    _ = await core.submitAndAwait { entry, _ in entry.prepareNop() }
}
