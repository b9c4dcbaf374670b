import Glibc
import Synchronization
import Torus

/// Walks sources and copies them: files spread over every core (each core keeps many files and
/// chunks in flight on its ring), directories created before their contents, symbolic links
/// copied as links, special files skipped with a warning. Failures are reported and the rest
/// goes on.
struct TreeCopier: Sendable {
    let options: CopyOptions
    let report: CopyReport
    let files: FileCopier
    /// Bounds the files open at once (descriptors and buffers).
    let filesInFlight: AsyncSemaphore
    let cores: [Core]
    let nextCore = CoreCounter()

    init(options: CopyOptions, report: CopyReport, cores: [Core]) {
        self.options = options
        self.report = report
        self.files = FileCopier(options: options, report: report, filesInFlight: 32 * cores.count)
        self.filesInFlight = AsyncSemaphore(permits: 32 * cores.count)
        self.cores = cores
    }

    /// Copies one command-line source to `destination`.
    func copyTopLevel(_ source: FilePath, to destination: FilePath) async {
        let metadata: FileMetadata
        do {
            // On the command line, cp follows a symbolic link unless copying recursively.
            metadata = try await FileSystem.metadata(at: source, followSymbolicLinks: !options.recursive)
        } catch {
            report.failed("cannot stat '\(source)': \(reason(error))")
            return
        }
        if metadata.isDirectory {
            guard options.recursive else {
                report.failed("-r not specified; omitting directory '\(source)'")
                return
            }
            if isInside(destination, source) {
                report.failed("cannot copy a directory, '\(source)', into itself, '\(destination)'")
                return
            }
        }
        await copyItem(source, metadata: metadata, to: destination)
    }

    private func copyItem(_ source: FilePath, metadata: FileMetadata, to destination: FilePath) async {
        switch metadata.kind {
        case .regular:
            await withDiscardingTaskGroup { group in
                await addFileCopy(to: &group, source, metadata: metadata, to: destination, intoNewDirectory: false,
                                  on: cores[nextCore.next() % cores.count])
            }
        case .directory:
            await copyDirectory(source, metadata: metadata, to: destination)
        case .symbolicLink:
            await copyLink(source, to: destination)
        default:
            report.skipped("skipping special file '\(source)' (\(metadata.kind))")
        }
    }

    /// Adds a task that copies one regular file on `core`, once one of the `filesInFlight`
    /// permits is free. The permit is taken before the task exists: a task per file waiting
    /// for its turn cost ~2 KiB each and made malloc grow its heap thousands of times (each
    /// growth an mprotect that stalls the other cores' page faults).
    private func addFileCopy(to group: inout DiscardingTaskGroup, _ source: FilePath, metadata: FileMetadata?, to destination: FilePath,
                             intoNewDirectory: Bool, on core: Core) async {
        let files = self.files
        let report = self.report
        let permit: AsyncSemaphore.Permit
        do { permit = try await filesInFlight.acquire() } catch {
            report.failed("interrupted while copying '\(source)'")
            return
        }
        group.addTask(executorPreference: core) {
            defer { permit.release() }
            do {
                try await files.copy(from: source, metadata: metadata, to: destination, intoNewDirectory: intoNewDirectory)
            } catch is CancellationError {
                report.failed("interrupted while copying '\(source)'")
            } catch let error as CopyError {
                report.failed(error.description)
            } catch {
                report.failed("cannot copy '\(source)' to '\(destination)': \(reason(error))")
            }
        }
    }

    private func copyDirectory(_ source: FilePath, metadata: FileMetadata, to destination: FilePath) async {
        do {
            // Made by this copy: nothing inside can be in the way, so its files need no checks.
            var madeHere = false
            do {
                try await FileSystem.createDirectory(at: destination, permissions: FilePermissions(rawValue: metadata.permissions.rawValue | 0o700))
                report.madeDirectory()
                madeHere = true
            } catch let error as IOError where error.errno == .fileExists {
                guard try await FileSystem.metadata(at: destination).isDirectory else {
                    report.failed("cannot overwrite non-directory '\(destination)' with directory '\(source)'")
                    return
                }
            }
            let entries = try await FileSystem.contentsOfDirectory(at: source)
            // Creating and renaming files take the directory's lock: the files of one directory
            // go to one core (directories take turns), so that cores do not queue on each
            // other's locks.
            let core = cores[nextCore.next() % cores.count]
            await withDiscardingTaskGroup { group in
                for entry in entries {
                    let child = source.appending(entry.name)
                    let target = destination.appending(entry.name)
                    if entry.kind == .regular {
                        // The directory listing said so: the metadata comes from the opened file,
                        // no separate statx.
                        await addFileCopy(to: &group, child, metadata: nil, to: target, intoNewDirectory: madeHere, on: core)
                        continue
                    }
                    group.addTask {
                        do {
                            let childMetadata = try await FileSystem.metadata(at: child, followSymbolicLinks: false)
                            await copyItem(child, metadata: childMetadata, to: target)
                        } catch {
                            report.failed("cannot stat '\(child)': \(reason(error))")
                        }
                    }
                }
            }
            // Modes and times after the contents, so that writing them did not change them.
            chmod(destination.string, finalMode(metadata, preserve: options.preserve))
            if options.preserve {
                var times = timestamps(metadata)
                utimensat(AT_FDCWD, destination.string, &times, 0)
            }
        } catch {
            report.failed("cannot copy directory '\(source)': \(reason(error))")
        }
    }

    private func copyLink(_ source: FilePath, to destination: FilePath) async {
        do {
            let target = try await FileSystem.destinationOfSymbolicLink(at: source)
            if try await FileSystem.exists(at: destination) {
                if options.noClobber {
                    report.skipped("not overwriting '\(destination)' (-n)")
                    return
                }
                try await FileSystem.removeFile(at: destination)
            }
            try await FileSystem.createSymbolicLink(at: destination, to: target)
            report.madeLink()
        } catch {
            report.failed("cannot copy symbolic link '\(source)' to '\(destination)': \(reason(error))")
        }
    }
}

/// Round-robin over cores.
final class CoreCounter: Sendable {
    private let value = Atomic<Int>(0)
    func next() -> Int { value.wrappingAdd(1, ordering: .relaxed).newValue }
}

/// The reason part of an error, without repeating the path.
func reason(_ error: any Error) -> String {
    if let error = error as? IOError { return "\(error.errno.description) (\(error.operation))" }
    return "\(error)"
}

/// Whether `path` is `directory` or inside it (both made absolute and resolved).
func isInside(_ path: FilePath, _ directory: FilePath) -> Bool {
    guard let base = resolved(directory) else { return false }
    // The destination may not exist yet: resolve its parent and append the name.
    let target = resolved(path) ?? resolved(path.removingLastComponent()).map { $0.appending(path.lastComponent?.string ?? "") }
    guard let target else { return false }
    return target == base || target.starts(with: base)
}

func resolved(_ path: FilePath) -> FilePath? {
    guard let pointer = realpath(path.string.isEmpty ? "." : path.string, nil) else { return nil }
    defer { free(pointer) }
    return FilePath(String(cString: pointer))
}
