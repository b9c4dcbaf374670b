import Foundation

/// A fresh journaled ext4 on a file-backed loop device, mounted for one workload and removed
/// after it: what users have. This VM's own ext4 has no journal, and without one ext4 steps
/// over every inode freed in the last minute when it allocates one (`recently_deleted()`), so
/// tree copies after a deletion get slower run after run there. Needs root (losetup, mkfs,
/// mount).
///
/// `losetup --direct-io=on`: the loop device reads and writes its backing file without a
/// second page cache, so a cold copy reads the disk. `mkfs.ext4` with its defaults, except that
/// the inode tables and journal are written at once (`lazy_itable_init=0,lazy_journal_init=0`):
/// by default a kernel thread zeroes them in the background for minutes after the first mount,
/// which a long-used file system no longer does and which would write during the measurements.
struct LoopFileSystem {
    let image: String
    let device: String
    let mountPoint: String

    /// Creates a sparse image of `bytes` in `directory`, attaches, formats and mounts it.
    init(in directory: String, bytes: Int) throws {
        guard getuid() == 0 else { throw CopyBenchError("a fresh loop-device file system needs root (losetup, mkfs.ext4, mount)") }
        let name = "cp-bench-\(getpid())"
        image = directory + "/\(name).img"
        mountPoint = directory + "/\(name).mnt"
        guard FileManager.default.createFile(atPath: image, contents: nil), truncate(image, off_t(bytes)) == 0 else {
            throw CopyBenchError("cannot make the \(bytes >> 30) GiB image \(image): \(String(cString: strerror(errno)))")
        }
        do {
            device = try commandOutput(["/sbin/losetup", "--direct-io=on", "--find", "--show", image])
                .trimmingCharacters(in: .whitespacesAndNewlines)
        } catch {
            unlink(image)
            throw error
        }
        do {
            _ = try commandOutput(["/sbin/mkfs.ext4", "-q", "-F", "-E", "lazy_itable_init=0,lazy_journal_init=0", device])
            try FileManager.default.createDirectory(atPath: mountPoint, withIntermediateDirectories: true)
            _ = try commandOutput(["/bin/mount", device, mountPoint])
        } catch {
            _ = try? commandOutput(["/sbin/losetup", "-d", device])
            rmdir(mountPoint)
            unlink(image)
            throw error
        }
    }

    /// Unmounts, detaches and deletes the image.
    func remove() {
        sync()
        _ = try? commandOutput(["/bin/umount", mountPoint])
        _ = try? commandOutput(["/sbin/losetup", "-d", device])
        rmdir(mountPoint)
        unlink(image)
    }
}
