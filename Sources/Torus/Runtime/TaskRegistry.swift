/// The tasks a runtime has spawned and not yet seen finish, so that shutdown can wait for them
/// and then cancel the rest.
struct TaskRegistry {
    private var nextID: UInt64 = 0
    private var cancellers: [UInt64: (@Sendable () -> Void)?] = [:]

    var count: Int { cancellers.count }

    /// Registers a task about to be created; its canceller is attached once the task exists.
    mutating func insert() -> UInt64 {
        nextID &+= 1
        cancellers[nextID] = .some(nil)
        return nextID
    }

    mutating func attach(_ id: UInt64, cancel: @escaping @Sendable () -> Void) {
        if cancellers[id] != nil { cancellers[id] = cancel }
    }

    mutating func remove(_ id: UInt64) { cancellers[id] = nil }

    /// Every canceller known now.
    var allCancellers: [@Sendable () -> Void] { cancellers.values.compactMap { $0 } }
}
