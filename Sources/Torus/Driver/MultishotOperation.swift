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

    /// This core's provided-buffer ring, created on first use.
    func providedBufferRing() throws -> ProvidedBufferRing {
        assertOnCore()
        if let existing = providedBuffers { return existing }
        guard let ring else { throw RuntimeError.shuttingDown }
        var code: Int32 = 0
        let configuration = shared.receiveBuffers
        guard let created = ProvidedBufferRing(ring: ring, group: 1, count: configuration.count, size: configuration.size, error: &code) else {
            throw IOError(operation: "io_uring_register_buf_ring", errno: Errno(rawValue: code))
        }
        providedBuffers = created
        return created
    }
}
