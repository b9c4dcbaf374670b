import Glibc
import Testing
import TorusRing

let ringAvailability: Result<Void, RingSetupError> = {
    do throws(RingSetupError) {
        _ = try Ring(entries: 8)
        return .success(())
    } catch { return .failure(error) }
}()
let ringAvailable: Bool = (try? ringAvailability.get()) != nil
let ringUnavailableReason: Comment = {
    if case .failure(let error) = ringAvailability { return "io_uring unavailable: \(error)" }
    return "io_uring available"
}()

@Suite("Ring layer", .enabled(if: ringAvailable, ringUnavailableReason))
struct RingTests {
    @Test("setup takes the best flags the kernel offers")
    func setupFlags() throws {
        let ring = try Ring(entries: 64)
        #expect(SetupFlags.ladder.contains(ring.setupFlags))
        #expect(ring.entries == 64)
        #expect(ring.fileDescriptor >= 0)
        #expect(ring.submissionSpaceLeft == 64)
    }

    @Test("a NOP round-trips with its user data")
    func nopRoundTrip() throws {
        let ring = try Ring(entries: 8)
        for value: UInt64 in [1, 42, 0xDEAD_BEEF_0000_0001] {
            let entry = try #require(ring.nextEntry())
            entry.prepareNop()
            entry.setUserData(value)
            #expect(ring.submitAndWait(1) == 1)
            var seen: [Completion] = []
            _ = ring.reapBatch { seen.append($0) }
            #expect(seen.count == 1)
            #expect(seen.first?.userData == value)
            #expect(seen.first?.result == 0)
        }
    }

    @Test("a relative timeout fires with -ETIME")
    func timeoutFires() throws {
        let ring = try Ring(entries: 8)
        let timespec = UnsafeMutablePointer<KernelTimespec>.allocate(capacity: 1)
        defer { timespec.deallocate() }
        timespec.initialize(to: KernelTimespec(.milliseconds(5)))
        let entry = try #require(ring.nextEntry())
        entry.prepareTimeout(timespec)
        entry.setUserData(7)
        let start = ContinuousClock.now
        var result: Int32?
        // A signal meant for another test's thread may end the wait early (EINTR): wait again.
        while result == nil, ContinuousClock.now - start < .seconds(10) {
            let entered = ring.submitAndWait(1)
            #expect(entered >= 0 || entered == -EINTR, "io_uring_enter: \(entered)")
            _ = ring.reapBatch { result = $0.result }
        }
        #expect(result == -62)  // ETIME
        #expect(ContinuousClock.now - start >= .milliseconds(5))
    }

    @Test("the reserve keeps SQ slots for cancels")
    func reserve() throws {
        let ring = try Ring(entries: 4)
        var taken = 0
        while let entry = ring.nextEntry(reserving: 2), taken < 10 {
            entry.prepareNop()
            taken += 1
        }
        // Once full, nextEntry submits the batch and continues, so it never runs dry here.
        #expect(taken == 10)
        ring.submitAndWait(0)
    }

    @Test("the opcode probe knows the basics", arguments: ["NOP", "READ", "WRITE", "TIMEOUT", "ASYNC_CANCEL"])
    func probe(name: String) throws {
        let ring = try Ring(entries: 8)
        let probe = try #require(ring.probe())
        #expect(probe.names.contains(name))
    }

    @Test("impossible entry counts are rejected with a message naming the count", arguments: [UInt32(0), 100_000])
    func impossibleEntryCount(entries: UInt32) {
        #expect {
            _ = try Ring(entries: entries)
        } throws: { error in
            guard let error = error as? RingSetupError, case .invalidEntryCount(let count, _) = error else { return false }
            return count == entries && error.description.contains("entries: \(entries)") && error.description.contains("32768")
        }
    }
}

@Suite("Setup error messages")
struct SetupErrorMessageTests {
    @Test func memlockNamesTheLimitAndTheFix() {
        let text = RingSetupError.lockedMemoryLimit(entries: 256, limit: 65536).description
        #expect(text.contains("RLIMIT_MEMLOCK"))
        #expect(text.contains("65536 bytes"))
        #expect(text.contains("ulimit -l"))
    }

    @Test func disabledNamesTheSysctl() {
        #expect(RingSetupError.notPermitted(disabledSetting: 2).description.contains("kernel.io_uring_disabled is 2"))
        #expect(RingSetupError.notPermitted(disabledSetting: 2).description.contains("sysctl -w kernel.io_uring_disabled=0"))
        #expect(RingSetupError.notPermitted(disabledSetting: 1).description.contains("io_uring_group"))
        #expect(RingSetupError.notPermitted(disabledSetting: 0).description.contains("seccomp"))
    }

    @Test func enosysNamesKernelAndSeccomp() {
        let text = RingSetupError.notSupported(kernel: "4.19.0").description
        #expect(text.contains("4.19.0"))
        #expect(text.contains("seccomp"))
    }

    @Test func kernelInfoReadsTheMachine() {
        #expect(!KernelInfo.release.isEmpty)
        #expect(KernelInfo.release != "unknown")
        #expect(KernelInfo.version != nil)
    }

    @Test("kernel versions: read from release strings, compared by major then minor; receive bundles only from 6.15")
    func kernelVersions() throws {
        #expect(KernelInfo.releaseVersion("6.18.44-fc-v857")! == (6, 18))
        #expect(KernelInfo.releaseVersion("6.15")! == (6, 15))
        #expect(KernelInfo.releaseVersion("5.4.0-150-generic")! == (5, 4))
        #expect(KernelInfo.releaseVersion("6.12-rc3")! == (6, 12))
        #expect(KernelInfo.releaseVersion("unknown") == nil)
        #expect(KernelInfo.releaseVersion("6") == nil)
        let (major, minor) = try #require(KernelInfo.version)
        #expect(KernelInfo.isAtLeast(major, minor))
        #expect(!KernelInfo.isAtLeast(major, minor + 1))
        #expect(KernelInfo.isAtLeast(major - 1, 99))
        #expect(!KernelInfo.isAtLeast(major + 1, 0))
        let ring = try Ring(entries: 8)
        let hasFeature = ring.features & (1 << 14) != 0
        #expect(ring.supportsReceiveBundles == (hasFeature && KernelInfo.isAtLeast(6, 15)))
    }
}
