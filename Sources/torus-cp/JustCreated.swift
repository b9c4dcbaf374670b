import Synchronization
import Torus

/// The destination files this run created from command-line operands (cp's `dest_info`): cp
/// never overwrites one of them with a later operand of the same name ("will not overwrite
/// just-created 'out/f' with 'b/f'", exit status 1). Inside trees cp merges and overwrites,
/// and so does torus-cp.
final class JustCreatedFiles: Sendable {
    private let paths = Mutex<Set<FilePath>>([])

    func record(_ path: FilePath) {
        paths.withLock { _ = $0.insert(path) }
    }

    func contains(_ path: FilePath) -> Bool {
        paths.withLock { $0.contains(path) }
    }
}

/// The operands in groups to copy one after the other: into a directory, those that land on
/// the same name (the source's last component) share a group, in their order; each group can
/// run beside the others. An operand given twice is copied once, with cp's warning.
func operandsByDestinationName(_ operands: [(FilePath, [UInt8])], intoDirectory: Bool) -> [[(FilePath, [UInt8])]] {
    guard intoDirectory, operands.count > 1 else { return operands.map { [$0] } }
    var groups: [[(FilePath, [UInt8])]] = []
    var groupOfName: [FilePath.Component?: Int] = [:]
    var seen: Set<[UInt8]> = []
    for operand in operands {
        guard seen.insert(operand.1).inserted else {
            printError("torus-cp: warning: source file \(quoted(bytes: operand.1)) specified more than once")
            continue
        }
        let name = operand.0.lastComponent
        if let group = groupOfName[name] {
            groups[group].append(operand)
        } else {
            groupOfName[name] = groups.count
            groups.append([operand])
        }
    }
    return groups
}
