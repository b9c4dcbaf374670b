// torus-cp: copy files and trees with many operations in flight on every core's io_uring, and
// never leave a half-written file under its final name.
import ArgumentParser
import Dispatch
import Glibc
import Synchronization
import Torus
import TorusVersion

extension CopyMethod: ExpressibleByArgument {}

struct TorusCopy: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "torus-cp",
        abstract: "Copy SOURCE to DEST, or several SOURCEs into the directory DEST, with io_uring on every core.",
        discussion: """
            Each destination file is written unnamed (O_TMPFILE), or under a temporary name when it \
            replaces a file, and gets its final name only when complete: an interrupted copy never \
            leaves a truncated file under the final name. \
            Devices, FIFOs and files reached through a destination symbolic link are written into, as \
            with cp. Trees are walked without following symbolic links (unless -L), names copied as \
            bytes.

            Exit status: 0 only if everything was copied unchanged; 1 for a failure, a skipped \
            socket, a source that changed size while it was copied, a usage error or a start-up \
            failure (no io_uring, say); 128+N when signal N stopped the copy: 130 for SIGINT, 143 for \
            SIGTERM, 129 for SIGHUP. A stopped copy first removes the temporary file of every file \
            in flight: no file appears under its final name unless it was copied whole (directories \
            made so far stay, with the files finished in them, as with cp).

            --json prints the --stats summary as one JSON object on one line of stderr, where \
            --stats prints it (stdout is for -v); its keys are listed in the README.
            """,
        version: torusVersion)

    @Flag(name: [.customShort("r"), .customShort("R"), .long], help: "Copy directories recursively (symbolic links are copied as links).")
    var recursive = false
    @Flag(name: .customShort("p"), help: "Same as --preserve=mode,ownership,timestamps.") var preserveStandard = false
    @Option(
        name: .customLong("preserve"),
        help: ArgumentHelp(
            "Preserve the attributes in LIST: mode, ownership, timestamps, links (hard links within the copy), xattr (extended attributes), all (alone: mode,ownership,timestamps).",
            valueName: "LIST"))
    var preserveList: String?
    @Flag(name: [.short, .customLong("archive")], help: "Same as -dR --preserve=all (extended attributes included, their failures unsaid).")
    var archive = false
    @Flag(name: .customShort("d"), help: "Same as --no-dereference --preserve=links.") var noDereferenceKeepLinks = false
    @Flag(name: [.customShort("P"), .customLong("no-dereference")], help: "Copy symbolic links as links (the default with -R).") var noDereference =
        false
    @Flag(name: [.customShort("L"), .customLong("dereference")], help: "Follow every symbolic link in the sources (the default without -R).")
    var dereference = false
    @Flag(name: .customShort("H"), help: "Follow symbolic links named on the command line.") var dereferenceCommandLine = false
    @Flag(name: [.short, .long], help: "Print each item copied.") var verbose = false
    @Flag(name: [.customShort("n"), .customLong("no-clobber")], help: "Do not overwrite an existing file.") var noClobber = false
    @Flag(name: [.short, .long], help: "Replace destination files that cannot be opened for writing.") var force = false
    @Option(help: "Cores to copy on (default: every allowed CPU).") var cores: Int?
    @Option(help: "Chunks in flight per file.") var queueDepth: Int = 8
    @Option(help: "Chunk size (bytes, or with K, M or G).") var chunkSize: String = "1M"
    @Flag(help: "Bypass the page cache (O_DIRECT) where the file system allows.") var direct = false
    @Option(
        help:
            "How data moves: auto (copy_file_range; ring reads and writes where the kernel cannot copy), copy-file-range, splice (through a pipe on the ring) or read-write (through buffers on the ring)."
    ) var method: CopyMethod = .auto
    @Flag(help: "Re-read both sides after copying and compare.") var verify = false
    @Flag(inversion: .prefixedNo, help: "Show progress on stderr (default: when stderr is a terminal).") var progress: Bool?
    @Flag(help: "Print a summary at the end (on stderr).") var stats = false
    @Flag(help: "Print the summary as one JSON object (implies --stats).") var json = false
    @Argument(help: "SOURCE... DEST") var paths: [String] = []

    func validate() throws {
        if let preserveList, Preserved(list: preserveList) == nil {
            throw ValidationError("invalid argument '\(preserveList)' for '--preserve' (valid: mode, ownership, timestamps, links, xattr, all)")
        }
        guard let first = paths.first else { throw ValidationError("missing file operand") }
        guard paths.count >= 2 else { throw ValidationError("missing destination file operand after \(quoted(first))") }
        guard (1...4096).contains(queueDepth) else { throw ValidationError("--queue-depth must be from 1 to 4096") }
        guard let size = parseSize(chunkSize), size >= 4096, size <= 1 << 30 else {
            throw ValidationError("--chunk-size must be a size from 4K to 1G, got '\(chunkSize)'")
        }
        if direct && size % 4096 != 0 { throw ValidationError("--direct needs a chunk size that is a multiple of 4K") }
        if let cores, !(1...4096).contains(cores) { throw ValidationError("--cores must be from 1 to 4096") }
    }

    func run() throws {
        // A message nobody can read is dropped (writeWhole gets EPIPE) and the copy goes on: with
        // SIGPIPE's default action `torus-cp -rv SRC DST | head -1` was killed by a later -v
        // line, leaving the temporary files of the copies in flight behind.
        _ = Glibc.signal(SIGPIPE, SIG_IGN)
        var options = CopyOptions()
        options.recursive = recursive || archive
        if preserveStandard { options.preserved.formUnion(.standard) }
        if archive { options.preserved.formUnion(.all) }
        if noDereferenceKeepLinks { options.preserved.insert(.links) }
        if let preserveList, let list = Preserved(list: preserveList) { options.preserved.formUnion(list) }
        // As cp: a failure to copy extended attributes is an error when they were asked for by
        // name, unsaid with -a, a warning with --preserve=all.
        if preserveList?.split(separator: ",").contains("xattr") == true {
            options.xattrFailures = .fail
        } else {
            options.xattrFailures = archive ? .silent : .warn
        }
        if dereference {
            options.following = .always
        } else if dereferenceCommandLine {
            options.following = .commandLine
        } else if noDereference || archive || noDereferenceKeepLinks {
            options.following = .never
        } else {
            options.following = options.recursive ? .never : .always
        }
        options.verbose = verbose
        options.noClobber = noClobber
        options.force = force
        options.verify = verify
        options.direct = direct
        options.queueDepth = queueDepth
        options.method = method
        options.chunkSize = parseSize(chunkSize)!

        let operands = rawOperands(paths)
        let sources = Array(operands.dropLast())
        let destination = operands.last!
        let texts = operandTexts(paths)
        // Into a directory: one descriptor for all sources, each copied under its last name
        // (O_PATH: searching it is all it takes, as with cp). Several sources need one, and cp
        // says why there is none.
        let destinationDirectory: OpenDirectory?
        do {
            destinationDirectory = try OpenDirectory.open(destination, in: .current, followLink: true, pathOnly: true)
        } catch {
            if sources.count > 1 {
                printError("torus-cp: target \(quoted(bytes: texts.last!)): \(reason(error))")
                throw ExitCode(1)
            }
            destinationDirectory = nil
        }
        // `SRC DEST/` with no directory DEST: cp refuses to create a file there. (Into an
        // existing directory DEST/ each source goes under its own name, a file as well.)
        let mustBeDirectory = destinationDirectory == nil && paths.last!.hasSuffix("/")
        let slashEnded = Set(zip(paths.dropLast(), sources).filter { $0.0.hasSuffix("/") && $0.0 != "/" }.map(\.1))

        var configuration = RuntimeConfiguration()
        if let cores { configuration.cores = .count(cores) }
        let runtime: Runtime
        do { runtime = try Runtime(configuration) } catch {
            printError("torus-cp: \(error)")
            throw ExitCode(1)
        }
        let report = CopyReport()
        let copier = TreeCopier(options: options, report: report, cores: runtime.cores)
        // SIGINT / SIGTERM / SIGHUP: cancel; every file in flight removes its temporary file. The
        // handlers are in place before the first file is opened.
        let signals = try SignalListener([.interrupt, .terminate, .hangup])
        let showProgress = progress ?? (isatty(2) != 0)
        let ticker = showProgress ? startProgress(report) : nil
        let stopScan = SizeScan.Stop()
        let scan =
            showProgress
            ? runtime.handle.spawn(on: .core(0)) { [options] in
                let total = try? await spawnBlocking {
                    SizeScan.total(of: sources, recursive: options.recursive, followLinks: options.followsOperandLinks, stop: stopScan)
                }
                if let total = total ?? nil { report.expect(bytes: total) }
            } : nil
        let interruption = try? runtime.handle.block {
            await signals.cancelling {
                await withDiscardingTaskGroup { group in
                    // Operands that land on one name are copied one after the other, in their
                    // order, so that cp's "will not overwrite just-created" picks the same one.
                    for operands in operandsByDestinationName(Array(zip(sources, texts)), intoDirectory: destinationDirectory != nil) {
                        group.addTask {
                            for (source, text) in operands {
                                await copier.copyTopLevel(
                                    source, to: destination, into: destinationDirectory, as: (text, texts.last!),
                                    mustBeDirectory: mustBeDirectory, sourceEndsInSlash: slashEnded.contains(source))
                            }
                        }
                    }
                }
            }
        }.signal
        let interrupted = interruption != nil
        // The walk reads metadata only, so it is done long before the copy unless interrupted.
        if interrupted { stopScan.requested.store(true, ordering: .relaxed) }
        _ = try? runtime.handle.block { await scan?.result }
        ticker?.cancel()
        if showProgress { printError("\r\u{1B}[K" + report.progressLine()) }
        runtime.shutdown(gracePeriod: .seconds(5))
        if json {
            printError(report.json(method: method, signal: interruption?.description))
        } else if stats {
            printError(report.summary())
        }
        if let interruption {
            printError("torus-cp: interrupted by \(interruption)")
            // The shell's convention for a process a signal ended: 128 + the signal's number.
            throw ExitCode(128 + interruption.rawValue)
        }
        if report.snapshot.failures > 0 { throw ExitCode(1) }
    }

    func startProgress(_ report: CopyReport) -> any DispatchSourceTimer {
        let timer = DispatchSource.makeTimerSource(queue: .global())
        timer.schedule(deadline: .now() + .milliseconds(200), repeating: .milliseconds(200))
        timer.setEventHandler { writeError("\r\u{1B}[K" + report.progressLine()) }
        timer.resume()
        return timer
    }
}

/// The operands as the bytes the command line holds: ArgumentParser's strings repair invalid
/// UTF-8, so each is matched (in order) to its raw argument, whose bytes are kept.
func rawOperands(_ operands: [String]) -> [FilePath] {
    zip(operands, rawArguments(operands)).map { operand, raw in raw.map { FilePath(platformString: $0) } ?? FilePath(operand) }
}

/// The operands' bytes as they were typed, for messages: a `FilePath` drops repeated and
/// trailing slashes, which cp's messages keep (`omitting directory 'dir/'`).
func operandTexts(_ operands: [String]) -> [[UInt8]] {
    zip(operands, rawArguments(operands)).map { operand, raw in
        raw.map { Array(UnsafeBufferPointer(start: $0, count: strlen($0))).map { UInt8(bitPattern: $0) } } ?? Array(operand.utf8)
    }
}

/// The raw argument each operand came from (nil if none matches).
private func rawArguments(_ operands: [String]) -> [UnsafeMutablePointer<CChar>?] {
    // SAFETY: argv holds argc valid C strings for the life of the process.
    var raw = (1..<Int(CommandLine.argc)).compactMap { CommandLine.unsafeArgv[$0] }[...]
    return operands.map { operand in
        while let argument = raw.popFirst() {
            if String(cString: argument) == operand { return argument }
        }
        return nil
    }
}

// Usage errors exit with status 1, as cp's do (ArgumentParser's default is 64), with cp's hint.
// `--preserve` alone is cp's `--preserve=mode,ownership,timestamps` (its LIST is optional, which
// ArgumentParser's options cannot be; cp takes a LIST only after `=`, so nothing else changes).
let arguments = CommandLine.arguments.dropFirst().map { $0 == "--preserve" ? "--preserve=mode,ownership,timestamps" : $0 }
do {
    var command = try TorusCopy.parseAsRoot(Array(arguments))
    try command.run()
} catch {
    if TorusCopy.exitCode(for: error) == .validationFailure {
        printError("torus-cp: " + TorusCopy.message(for: error) + "\nTry 'torus-cp --help' for more information.")
        exit(1)
    }
    TorusCopy.exit(withError: error)
}
