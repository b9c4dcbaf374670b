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

@Suite("Provided-buffer ring: slots against a model", .enabled(if: ringAvailable, ringUnavailableReason))
struct ProvidedBufferSlotModelTests {
    /// A mirror of what the ring's slots hold: a simulated kernel takes bundles of 1-3 buffers
    /// from the head; buffers come back in random order, posted at once or held and posted
    /// later last-held-first. Every bundle is checked against the model when taken and again
    /// after other give-backs moved the tail: while its first slot still holds it, the mirror
    /// names the model's buffers.
    @Test(
        "random takes, give-backs, holds and posts of held buffers (count 8, 2 posted at first): the mirror matches the model", arguments: [1, 2, 3])
    func mirrorMatchesTheModel(seed: UInt64) throws {
        let ring = try Ring(entries: 8)
        var code: Int32 = 0
        let count = 8
        let group = try #require(ProvidedBufferRing(ring: ring, group: 1, count: count, size: 16, posted: 2, error: &code), "errno \(code)")
        var state = seed &* 0x9E37_79B9_7F4A_7C15 | 1
        func next(_ bound: Int) -> Int {
            state ^= state << 13
            state ^= state >> 7
            state ^= state << 17
            return Int(state % UInt64(bound))
        }
        var positions: [UInt16] = [0, 1]  // the buffer put at each ring position so far
        var head = 0
        var held: [UInt16] = (2..<UInt16(count)).reversed().map { $0 }  // the top is last
        var lent: [UInt16] = []
        var bundles: [(first: UInt16, position: Int, size: Int)] = []
        for _ in 0..<4000 {
            switch next(4) {
            case 0 where positions.count > head:
                let size = 1 + next(min(3, positions.count - head))
                let first = positions[head]
                #expect(group.isInItsSlot(first))
                for step in 0..<size { #expect(group.bufferID(after: first, by: step) == positions[head + step]) }
                bundles.append((first, head, size))
                lent += positions[head..<(head + size)]
                head += size
            case 1 where !lent.isEmpty:
                let id = lent.remove(at: next(lent.count))
                bundles.removeAll { bundle in positions[bundle.position..<(bundle.position + bundle.size)].contains(id) }
                if next(2) == 0 {
                    group.recycle(id)
                    positions.append(id)
                } else {
                    group.hold(id)
                    held.append(id)
                }
            case 2 where !held.isEmpty:
                let limit = 1 + next(3)
                let posted = group.postHeld(limit)
                #expect(posted == min(limit, held.count))
                for _ in 0..<posted { positions.append(held.removeLast()) }
            default:
                // A bundle whose completion is read late: still in its slot exactly when the
                // ring has not come round to its first position again.
                if !bundles.isEmpty {
                    let bundle = bundles[next(bundles.count)]
                    let refilled = positions.count > bundle.position + count
                    #expect(group.isInItsSlot(bundle.first) == !refilled)
                    if !refilled {
                        for step in 0..<bundle.size {
                            #expect(group.bufferID(after: bundle.first, by: step) == positions[bundle.position + step])
                        }
                    }
                }
            }
            #expect(group.held == held.count)
            #expect(positions.count - head + held.count + lent.count == count, "every buffer posted, held or lent, once")
        }
    }
}
