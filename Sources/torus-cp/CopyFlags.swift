import Torus

/// Which attributes of the source a copy keeps: `--preserve=LIST`, `-p` (mode, ownership,
/// timestamps), `-a` (all of them).
struct Preserved: OptionSet, Sendable {
    let rawValue: UInt8
    init(rawValue: UInt8) { self.rawValue = rawValue }
    static let mode = Preserved(rawValue: 1 << 0)
    static let ownership = Preserved(rawValue: 1 << 1)
    static let timestamps = Preserved(rawValue: 1 << 2)
    /// Hard links between files of the copy are kept as hard links.
    static let links = Preserved(rawValue: 1 << 3)
    /// Extended attributes (those `/etc/xattr.conf` does not leave out; see ``XattrRules``).
    static let xattr = Preserved(rawValue: 1 << 4)
    /// What `-p` keeps.
    static let standard: Preserved = [.mode, .ownership, .timestamps]
    static let all: Preserved = [.standard, .links, .xattr]

    /// `mode,ownership,timestamps,links,xattr` or `all`, as cp spells them; nil for anything
    /// else (security contexts are not copied).
    init?(list: String) {
        self = []
        for name in list.split(separator: ",") {
            switch name {
            case "mode": insert(.mode)
            case "ownership": insert(.ownership)
            case "timestamps": insert(.timestamps)
            case "links": insert(.links)
            case "xattr": insert(.xattr)
            case "all": formUnion(.all)
            default: return nil
            }
        }
    }
}

/// Which symbolic links among the sources are followed (copied as what they point to) rather
/// than copied as links.
enum LinkFollowing: Sendable {
    /// -P (the default with -R): none.
    case never
    /// -H: those named on the command line.
    case commandLine
    /// -L (the default without -R): all, in trees too.
    case always
}

extension CopyOptions {
    /// Whether a symbolic link named on the command line is followed.
    var followsOperandLinks: Bool { following != .never }
    /// Whether a symbolic link inside a tree is followed.
    var followsTreeLinks: Bool { following == .always }
}

/// How a failure to copy extended attributes is told: as GNU cp tells it, which depends on how
/// they came to be preserved.
enum XattrFailurePolicy: Sendable {
    /// `--preserve=xattr` named them: every failure is reported, and the exit status is 1.
    case fail
    /// `--preserve=all`: reported, unless the destination cannot hold extended attributes at all
    /// (`ENOTSUP`) or one went away (`ENODATA`); the exit status stays 0.
    case warn
    /// `-a` (cp's "reduced diagnostics"): nothing is said.
    case silent
}
