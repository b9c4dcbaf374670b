import TorusRing

/// Why a ring could not be set up (memlock limit, io_uring disabled, a kernel too old), with
/// what to do about it. Defined by the ring layer; named here so that `import Torus` is enough
/// to catch it (`catch let error as RingSetupError`).
public typealias RingSetupError = TorusRing.RingSetupError
