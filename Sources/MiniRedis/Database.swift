import Synchronization

/// The key-value store, shared by every core: a fixed number of shards, each a plain
/// `Mutex`-protected dictionary.
///
/// Why a synchronous `Mutex` and not an async one: every operation is a short, non-suspending
/// critical section (no `await` inside `withLock`, which the compiler enforces), so a core never
/// waits long, and sharding keeps two cores from contending for the same lock most of the time
/// (tutorial chapter 3).
public final class Database: Sendable {
    /// A key, hashed over its bytes in one call (hashing `[UInt8]` directly feeds the hasher
    /// one byte at a time, which was the largest single cost of a GET).
    struct Key: Hashable {
        let bytes: [UInt8]

        func hash(into hasher: inout Hasher) {
            bytes.withUnsafeBytes { hasher.combine(bytes: $0) }
        }

        /// A cheap spread for choosing a shard, eight bytes at a time (byte-at-a-time FNV was
        /// 2% of a pipelined server's CPU). Not keyed: a client choosing keys can at most crowd
        /// one shard's lock; the shard's table hashes with the seeded `Hasher`, so colliding
        /// keys cannot slow its lookups.
        var shardHash: Int {
            bytes.withUnsafeBytes { raw in
                var hash = 0x9e37_79b9_7f4a_7c15 ^ UInt64(raw.count)
                var offset = 0
                while offset + 8 <= raw.count {
                    hash = (hash ^ raw.loadUnaligned(fromByteOffset: offset, as: UInt64.self)) &* 0xff51_afd7_ed55_8ccd
                    hash ^= hash >> 32
                    offset += 8
                }
                var tail: UInt64 = 0
                while offset < raw.count {
                    tail = tail << 8 | UInt64(raw[offset])
                    offset += 1
                }
                hash = (hash ^ tail) &* 0xc4ce_b9fe_1a85_ec53
                hash ^= hash >> 29
                return Int(truncatingIfNeeded: hash)
            }
        }
    }

    /// A stored value and when it stops existing.
    struct Entry {
        var value: [UInt8]
        var expiresAt: ExpiryTime?
    }

    /// One shard: its table and how many of its keys have an expiry (so sweeps skip the rest).
    final class Shard: Sendable {
        struct State {
            var table: [Key: Entry] = [:]
            var expiring = 0
        }
        let state = Mutex(State())
    }

    private let shards: [Shard]

    /// A database split into `shardCount` shards (rounded up to a power of two).
    public init(shardCount: Int = 64) {
        var count = 1
        while count < shardCount { count <<= 1 }
        shards = (0..<count).map { _ in Shard() }
    }

    private func shard(for key: Key) -> Shard {
        shards[key.shardHash & (shards.count - 1)]
    }

    /// The value under `key`, or nil if there is none or it has expired (then it is removed).
    public func get(_ key: [UInt8]) -> [UInt8]? {
        let key = Key(bytes: key)
        return shard(for: key).state.withLock { state in
            guard let entry = state.table[key] else { return nil }
            if let deadline = entry.expiresAt, deadline <= .now {
                state.table[key] = nil
                state.expiring -= 1
                return nil
            }
            return entry.value
        }
    }

    /// Stores `value` under `key`, replacing any value and expiry; with `expiry`, the key
    /// disappears after that long.
    public func set(_ key: [UInt8], _ value: [UInt8], expiry: Duration? = nil) {
        let key = Key(bytes: key)
        let deadline = expiry.map { ExpiryTime.now.advanced(by: $0) }
        shard(for: key).state.withLock { state in
            let previous = state.table.updateValue(Entry(value: value, expiresAt: deadline), forKey: key)
            if previous?.expiresAt != nil { state.expiring -= 1 }
            if deadline != nil { state.expiring += 1 }
        }
    }

    /// Removes the keys; returns how many existed (expired ones do not count).
    public func delete(_ keys: [[UInt8]]) -> Int {
        let now = ExpiryTime.now
        var removed = 0
        for key in keys.map(Key.init(bytes:)) {
            shard(for: key).state.withLock { state in
                guard let entry = state.table.removeValue(forKey: key) else { return }
                if let deadline = entry.expiresAt {
                    state.expiring -= 1
                    if deadline <= now { return }
                }
                removed += 1
            }
        }
        return removed
    }

    /// Removes every expired key; returns how many. Keys also vanish lazily when read, so this
    /// only bounds the memory held by keys nobody reads again.
    @discardableResult
    public func purgeExpired() -> Int {
        let now = ExpiryTime.now
        var purged = 0
        for shard in shards {
            shard.state.withLock { state in
                guard state.expiring > 0 else { return }
                let before = state.table.count
                state.table = state.table.filter { _, entry in entry.expiresAt.map { $0 > now } ?? true }
                let removed = before - state.table.count
                state.expiring -= removed
                purged += removed
            }
        }
        return purged
    }

    /// Keys with an expiry stored now (expired ones not yet purged included).
    public var expiringCount: Int { shards.reduce(0) { total, shard in total + shard.state.withLock { $0.expiring } } }

    /// Keys stored now (expired ones not yet purged included).
    public var count: Int { shards.reduce(0) { total, shard in total + shard.state.withLock { $0.table.count } } }
}
