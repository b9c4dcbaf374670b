import Testing
import TorusRing

// The ring-slot mirror that names a bundle's buffers (`bufferID(after:by:)`) and tells when a
// bundle's slots were refilled before its completion was read (`isInItsSlot`). No receive is
// armed, so the kernel never takes these buffers: giving them back here only moves the mirror
// (and the ring's tail) the way real give-backs after real receives would.
@Suite("Provided-buffer ring slots", .enabled(if: ringAvailable, ringUnavailableReason))
struct ProvidedBufferRingTests {
    @Test("buffers given back out of order: the mirror names the buffer in each next slot, and a refilled slot no longer holds its old buffer")
    func slotMirror() throws {
        let ring = try Ring(entries: 8)
        var code: Int32 = 0
        let group = try #require(ProvidedBufferRing(ring: ring, group: 1, count: 4, size: 64, error: &code), "errno \(code)")
        // Registered in order: slot n holds buffer n.
        #expect((0..<4).map { group.bufferID(after: 0, by: $0) } == [0, 1, 2, 3])
        #expect((0..<4).allSatisfy { group.isInItsSlot(UInt16($0)) })
        // Give back 3, then 1: they go into slots 0 and 1 (the tail wraps), so a bundle that
        // had started at buffer 0 has lost its slots, and one starting at 3 continues with 1.
        group.recycle(3)
        group.recycle(1)
        #expect(!group.isInItsSlot(0), "slot 0 was refilled with buffer 3")
        #expect(group.isInItsSlot(3) && group.isInItsSlot(1))
        #expect(group.bufferID(after: 3, by: 1) == 1)
        #expect(group.bufferID(after: 3, by: 2) == 2, "slot 2 still holds buffer 2")
        #expect(group.bufferID(after: 2, by: 2) == 3, "the ring wraps after slot 3")
    }
}

@Suite("Provided-buffer ring: held buffers", .enabled(if: ringAvailable, ringUnavailableReason))
struct ProvidedBufferHeldTests {
    @Test("a group posts only some buffers at first; held ones are posted last-held-first, into the next slots")
    func heldBuffers() throws {
        let ring = try Ring(entries: 8)
        var code: Int32 = 0
        let group = try #require(ProvidedBufferRing(ring: ring, group: 1, count: 8, size: 64, posted: 2, error: &code), "errno \(code)")
        #expect(group.held == 6)
        #expect(group.isInItsSlot(0) && group.isInItsSlot(1))
        #expect(!group.isInItsSlot(5), "a held buffer is in no slot")
        // The lowest held ids come first: 2, 3, 4 into slots 2, 3, 4.
        #expect(group.postHeld(3) == 3)
        #expect(group.held == 3)
        #expect((1...3).map { group.bufferID(after: 1, by: $0) } == [2, 3, 4])
        // Held last, posted first.
        group.hold(0)
        group.hold(2)
        #expect(group.postHeld(1) == 1)
        #expect(group.bufferID(after: 4, by: 1) == 2)
        #expect(group.postHeld(100) == 4, "only what is held")
        #expect(group.held == 0)
        #expect((1...4).map { group.bufferID(after: 2, by: $0) } == [0, 5, 6, 7])
    }
}
