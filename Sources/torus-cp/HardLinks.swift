import Glibc
import Synchronization
import Torus

/// A file's identity: device and inode.
struct InodeKey: Hashable, Sendable {
    let major: UInt32
    let minor: UInt32
    let inode: UInt64

    init(_ metadata: FileMetadata) {
        (major, minor) = metadata.device
        inode = metadata.inode
    }
}

/// --preserve=links: the first copy of a file with several names is a copy, every later name of
/// the same inode in the tree becomes a hard link to that copy (`linkat`, relative to the
/// directory descriptors). A later name waits until the first copy is in place under its final
/// name; if that copy failed, it is copied on its own.
final class HardLinks: Sendable {
    private enum State {
        /// The first name's copy is under way; these later names wait for it.
        case copying(waiters: [CheckedContinuation<Place?, Never>])
        /// The copy that later names link to (nil: it failed).
        case done(Place?)
    }

    private let table = Mutex<[InodeKey: State]>([:])

    /// Where to link a later name of `key` to, once that copy exists; nil when the caller is
    /// the first (it copies, then calls ``finished(_:at:)``) or the first copy failed.
    func linkTarget(for key: InodeKey) async -> (first: Bool, target: Place?) {
        enum Claim {
            case first
            case done(Place?)
            case wait
        }
        let claim: Claim = table.withLock { table in
            switch table[key] {
            case nil:
                table[key] = .copying(waiters: [])
                return .first
            case .done(let place)?:
                return .done(place)
            case .copying?:
                return .wait
            }
        }
        switch claim {
        case .first: return (true, nil)
        case .done(let place): return (false, place)
        case .wait:
            let place = await withCheckedContinuation { continuation in
                let ready: Place?? = table.withLock { table in
                    if case .copying(let waiters)? = table[key] {
                        table[key] = .copying(waiters: waiters + [continuation])
                        return nil
                    }
                    if case .done(let place)? = table[key] { return .some(place) }
                    return .some(nil)
                }
                if let ready { continuation.resume(returning: ready) }
            }
            return (false, place)
        }
    }

    /// The first copy of `key` is in place at `place` (nil: it failed); waiting names go on.
    func finished(_ key: InodeKey, at place: Place?) {
        let waiters: [CheckedContinuation<Place?, Never>] = table.withLock { table in
            guard case .copying(let waiters)? = table[key] else { return [] }
            table[key] = .done(place)
            return waiters
        }
        for waiter in waiters { waiter.resume(returning: place) }
    }
}

/// Makes `destination` a hard link to the copy at `existing` (replacing what is there: a new
/// name is linked under a temporary name and renamed over it, so the replacement is atomic).
func link(_ destination: Place, to existing: Place) throws {
    let temporary = temporaryName()
    _ = try existing.name.withPlatformString { from in
        try temporary.withPlatformString { to in
            try systemCall("link", path: destination.path) { linkat(existing.directory.descriptor, from, destination.directory.descriptor, to, 0) }
        }
    }
    do {
        _ = try temporary.withPlatformString { from in
            try destination.name.withPlatformString { to in
                try systemCall("rename", path: destination.path) {
                    renameat(destination.directory.descriptor, from, destination.directory.descriptor, to)
                }
            }
        }
    } catch {
        removeTemporary(temporary, in: destination.directory)
        throw error
    }
}
