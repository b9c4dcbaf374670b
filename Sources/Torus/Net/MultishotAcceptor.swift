import Glibc
import TorusRing

/// A listener's multishot accept (`IORING_ACCEPT_MULTISHOT`): one SQE keeps accepting, each
/// connection posts a completion with its descriptor. Descriptors accepted but never handed out
/// are closed when the source goes away.
func makeMultishotAcceptor(core: Core, handle: SocketHandle) -> MultishotSource<Int32> {
    MultishotSource(
        core: core, handle: handle, operation: "accept",
        prepare: { entry, fd in
            entry.prepareAccept(fd: fd, address: nil, length: nil, flags: Int32(SOCK_CLOEXEC.rawValue), multishot: true)
        },
        interpret: { completion in
            if completion.result >= 0 { return .item(completion.result) }
            if completion.result == -ECANCELED { return .none }
            return .failure(IOError(operation: "accept", address: handle.address, errno: Errno(rawValue: -completion.result)))
        },
        discard: { fd in close(fd) })
}
