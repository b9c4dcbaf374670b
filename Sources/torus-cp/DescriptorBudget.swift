import Glibc

/// How many files and directories the copy keeps open at once, within the process's descriptor
/// limit (`RLIMIT_NOFILE`): 32 files per core and 256 directories where the limit allows (the
/// usual 1,024 or more), fewer under a low `ulimit -n`, so that a copy there goes slower
/// instead of failing with EMFILE (cp, one file at a time, copies a tree at `ulimit -n 20`).
struct DescriptorBudget {
    /// Files copied at once (each holds its source and its copy open).
    let files: Int
    /// Directories walked in parallel (each holds its source and its copy open).
    let directories: Int

    init(cores: Int) {
        var limit = rlimit()
        let known = getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit) == 0
        // Unknown or unlimited: as if very large.
        let soft = known && limit.rlim_cur < rlim_t(Int32.max) ? Int(limit.rlim_cur) : 1 << 20
        // The runtime's rings and wake-up descriptors, standard streams, signals, the
        // operands' directories (about 15 on two cores): a reserve. Of the rest, files take up
        // to a third (two each); directories two thirds of what is left (two each), the last
        // third staying for the levels a walk holds above the directories in flight. At the
        // usual 1,024 that is the full 32 files per core and 256 directories.
        let available = max(soft - 16 - 4 * cores, 0)
        files = min(32 * cores, max(1, available / 6))
        directories = min(256, max(1, (available - 2 * files) / 3))
    }
}
