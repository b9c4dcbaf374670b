internal import CUring

/// The `io_uring_setup` flags a ring was created with.
///
/// Torus asks for the most efficient mode the kernel accepts and falls back step by step:
/// `singleIssuer + deferTaskrun` (kernel 6.1+), then `coopTaskrun + taskrunFlag` (5.19+), then
/// none. ``Ring/setupFlags`` reports which one is in force.
public struct SetupFlags: OptionSet, Sendable, Hashable, CustomStringConvertible {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    /// `IORING_SETUP_CQSIZE`: a completion queue larger than the submission queue.
    public static let cqSize = SetupFlags(rawValue: UInt32(TORUS_SETUP_CQSIZE))
    /// `IORING_SETUP_SUBMIT_ALL`: keep submitting the batch when one SQE fails to prepare.
    public static let submitAll = SetupFlags(rawValue: UInt32(TORUS_SETUP_SUBMIT_ALL))
    /// `IORING_SETUP_COOP_TASKRUN`: no IPI to interrupt the thread for task work.
    public static let coopTaskrun = SetupFlags(rawValue: UInt32(TORUS_SETUP_COOP_TASKRUN))
    /// `IORING_SETUP_TASKRUN_FLAG`: the kernel flags pending task work in the SQ ring.
    public static let taskrunFlag = SetupFlags(rawValue: UInt32(TORUS_SETUP_TASKRUN_FLAG))
    /// `IORING_SETUP_SINGLE_ISSUER`: only the creating thread submits.
    public static let singleIssuer = SetupFlags(rawValue: UInt32(TORUS_SETUP_SINGLE_ISSUER))
    /// `IORING_SETUP_DEFER_TASKRUN`: completions are processed only when the owner asks.
    public static let deferTaskrun = SetupFlags(rawValue: UInt32(TORUS_SETUP_DEFER_TASKRUN))

    /// The fallback ladder, best first.
    public static let ladder: [SetupFlags] = [
        [.singleIssuer, .deferTaskrun, .submitAll, .cqSize],
        [.coopTaskrun, .taskrunFlag, .submitAll, .cqSize],
        [.cqSize],
        [],
    ]

    public var description: String {
        let names: [(SetupFlags, String)] = [
            (.singleIssuer, "SINGLE_ISSUER"), (.deferTaskrun, "DEFER_TASKRUN"),
            (.coopTaskrun, "COOP_TASKRUN"), (.taskrunFlag, "TASKRUN_FLAG"),
            (.submitAll, "SUBMIT_ALL"), (.cqSize, "CQSIZE"),
        ]
        let present = names.filter { contains($0.0) }.map(\.1)
        return present.isEmpty ? "none" : present.joined(separator: "|")
    }
}
