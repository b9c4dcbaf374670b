import TorusRing

extension Core {
    /// Submits a multishot operation: `handler` runs on this core for every completion until
    /// one arrives without `IORING_CQE_F_MORE`. `keepAlive` lives until then. Returns the id to
    /// cancel it with (``cancelOperation(_:)``).
    func submitMultishot(
        keepAlive: AnyObject?,
        handler: @escaping (Completion) -> Void,
        _ prepare: (SubmissionEntry) -> Void
    ) -> OperationID {
        assertOnCore()
        let id = operations.reserve(keepAlive: keepAlive)
        let entry = nextEntry()
        prepare(entry)
        entry.setUserData(id.userData)
        operations.markSubmitted(id, waiter: .handler(handler))
        return id
    }

    /// This core's provided receive buffers, the first group registered on first use.
    func receiveBufferPool() throws -> ProvidedBufferPool {
        assertOnCore()
        if receiveBuffers.groups.isEmpty {
            guard let ring else { throw RuntimeError.shuttingDown }
            try receiveBuffers.start(on: ring)
        }
        return receiveBuffers
    }
}
