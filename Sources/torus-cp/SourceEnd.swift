import Synchronization

/// Where the source turned out to end, when a read or copy of one of its chunks came up short:
/// the file shrank while it was copied, or its size was never true (procfs, sysfs). The copy is
/// then cut there instead of keeping a tail of zeros (preallocated, or written by ftruncate for
/// a sparse file).
final class SourceEnd: Sendable {
    private let shortest = Mutex<UInt64?>(nil)

    /// A chunk that should have reached past `offset` ended there.
    func ended(at offset: UInt64) { shortest.withLock { $0 = min($0 ?? offset, offset) } }

    /// The earliest end seen, nil if every chunk was whole.
    var offset: UInt64? { shortest.withLock { $0 } }
}
