internal import CUring
import Glibc

/// A provided-buffer ring (`IORING_REGISTER_PBUF_RING`): buffers the kernel picks from when a
/// receive completes, so a connection that is idle holds no buffer at all.
///
/// Owned by one ring's thread. `count` buffers of `size` bytes live in one allocation; buffer
/// `id` is at `base + id * size`.
///
/// A free buffer is either posted (in the ring, for the kernel to take) or held here, on a
/// last-in-first-out stack, for ``postHeld(_:)`` to post later. The kernel takes posted buffers
/// in ring order, so a ring with every free buffer posted cycles through all of them: with
/// 1,024 buffers of 16 KiB, each receive writes 16 MiB behind the last use of its buffer, cold
/// in every cache, and the send that echoes it reads it cold again. Holding most free buffers
/// back and posting the ones given back last keeps the kernel on a few warm ones (the owner
/// decides how many; see `ProvidedBufferPool`).
public final class ProvidedBufferRing {
    let ring: Ring
    // SAFETY: `ringMemory` is mmap'd and registered by torus_buf_ring_create and unregistered and
    // unmapped in deinit; `base` is allocated here and freed in deinit, after the registration
    // is gone, so the kernel never writes into freed memory.
    let ringMemory: UnsafeMutableRawPointer
    /// The first buffer.
    public let base: UnsafeMutableRawPointer
    public let count: Int
    public let size: Int
    /// The buffer group id SQEs name.
    public let group: Int32
    // SAFETY: both allocated here for `count` entries and freed in deinit; core-thread only,
    // like the ring itself.
    /// Which buffer each slot of the ring holds (slot = position & (count - 1)): a bundled
    /// receive fills the buffers of consecutive slots, and names only the first.
    private let idAtSlot: UnsafeMutablePointer<UInt16>
    /// The slot each buffer was last put in.
    private let slotOfID: UnsafeMutablePointer<UInt32>
    /// The position the next buffer given back goes to (the ring's tail, as this side keeps it).
    private var tail: UInt32 = 0
    // SAFETY: allocated here for `count` ids and freed in deinit; core-thread only.
    /// Free buffers not posted, the one held last on top.
    private let heldIDs: UnsafeMutablePointer<UInt16>
    /// How many buffers are held (not posted, not on loan).
    public private(set) var held = 0

    /// Registers `count` (a power of two, at most 32768) buffers of `size` bytes as `group`,
    /// the first `posted` of them (all by default) in the ring and the rest held.
    /// - Returns: nil with the errno when the kernel refuses (before 5.19, or memlock).
    public init?(ring: Ring, group: Int32, count: Int, size: Int, posted: Int? = nil, error: inout Int32) {
        precondition(count > 0 && count & (count - 1) == 0 && count <= 32768, "buffer count must be a power of two up to 32768")
        var code: Int32 = 0
        guard let memory = torus_buf_ring_create(ring.raw, UInt32(count), group, &code) else {
            error = -code
            return nil
        }
        var pointer: UnsafeMutableRawPointer?
        guard posix_memalign(&pointer, 4096, count * size) == 0, let pointer else {
            torus_buf_ring_destroy(ring.raw, memory, UInt32(count), group)
            error = ENOMEM
            return nil
        }
        self.ring = ring
        ringMemory = memory
        base = pointer
        self.count = count
        self.size = size
        self.group = group
        idAtSlot = .allocate(capacity: count)
        slotOfID = .allocate(capacity: count)
        heldIDs = .allocate(capacity: count)
        let postedCount = min(max(posted ?? count, 0), count)
        for id in 0..<postedCount {
            torus_buf_ring_add(memory, pointer + id * size, UInt32(size), UInt16(id), UInt32(count), Int32(id))
            idAtSlot[id] = UInt16(id)
            slotOfID[id] = UInt32(id)
        }
        for slot in postedCount..<count { idAtSlot[slot] = UInt16.max }
        // The lowest held id on top.
        for id in (postedCount..<count).reversed() {
            heldIDs[held] = UInt16(id)
            slotOfID[id] = UInt32(count)  // no slot yet
            held += 1
        }
        tail = UInt32(postedCount)
        torus_buf_ring_advance(memory, Int32(postedCount))
    }

    /// The buffer `steps` slots after buffer `id` in the ring: the kernel consumes the ring in
    /// order, so a bundled receive that names `id` and filled `n` buffers filled `id` and the
    /// `n - 1` buffers after it.
    public func bufferID(after id: UInt16, by steps: Int) -> UInt16 {
        idAtSlot[Int((slotOfID[Int(id)] &+ UInt32(steps)) & UInt32(count - 1))]
    }

    /// Whether buffer `id`'s slot still holds it: no buffer was recycled into it since the
    /// kernel took `id`. Slots are refilled in ring order, so while the first slot of a bundle
    /// still holds its buffer, so do the slots after it: ``bufferID(after:by:)`` names them.
    public func isInItsSlot(_ id: UInt16) -> Bool {
        let slot = Int(slotOfID[Int(id)])
        return slot < count && idAtSlot[slot] == id
    }

    /// The memory of buffer `id`.
    public func address(of id: UInt16) -> UnsafeMutableRawPointer { base + Int(id) * size }

    /// Gives buffer `id` back to the kernel.
    public func recycle(_ id: UInt16) {
        post(id, offset: 0)
        torus_buf_ring_advance(ringMemory, 1)
    }

    /// Keeps buffer `id` free but out of the ring, on top of the held ones.
    public func hold(_ id: UInt16) {
        precondition(held < count, "more buffers held than the group has")
        heldIDs[held] = id
        held += 1
    }

    /// Posts up to `limit` held buffers, the last held first; returns how many.
    @discardableResult
    public func postHeld(_ limit: Int) -> Int {
        let posting = min(limit, held)
        guard posting > 0 else { return 0 }
        for offset in 0..<posting {
            held -= 1
            post(heldIDs[held], offset: offset)
        }
        torus_buf_ring_advance(ringMemory, Int32(posting))
        return posting
    }

    /// Writes buffer `id` into the slot `offset` past the ring's published tail (made visible
    /// by the caller's advance, once for all the buffers it posts).
    private func post(_ id: UInt16, offset: Int) {
        torus_buf_ring_add(ringMemory, address(of: id), UInt32(size), id, UInt32(count), Int32(offset))
        let slot = tail & UInt32(count - 1)
        idAtSlot[Int(slot)] = id
        slotOfID[Int(id)] = slot
        tail &+= 1
    }

    deinit {
        idAtSlot.deallocate()
        slotOfID.deallocate()
        heldIDs.deallocate()
        torus_buf_ring_destroy(ring.raw, ringMemory, UInt32(count), group)
        free(base)
    }
}
