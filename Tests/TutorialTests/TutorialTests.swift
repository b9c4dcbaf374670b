import Foundation
import Testing
import Torus
import TorusTestSupport

/// The repository root (this file is Tests/TutorialTests/TutorialTests.swift).
let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

/// A fenced Swift block in a tutorial page and the marker comment right above it.
struct TutorialCodeBlock {
    enum Marker: Equatable {
        /// `<!-- snippet: PATH NAME -->`: the block must equal region NAME of Sources/PATH.
        case snippet(path: String, name: String)
        /// `<!-- compile-fails: MESSAGE -->`: the block must fail to compile with MESSAGE.
        case compileFails(expected: String)
    }
    var page: String
    var line: Int
    var marker: Marker?
    /// Line indices (into the page) of the code between the fences.
    var codeLines: Range<Int>
    var code: String
}

enum TutorialPages {
    static let directory = packageRoot.appendingPathComponent("docs/tutorial")

    static func pages() throws -> [URL] {
        try FileManager.default.contentsOfDirectory(at: directory, includingPropertiesForKeys: nil)
            .filter { $0.pathExtension == "md" }.sorted { $0.lastPathComponent < $1.lastPathComponent }
    }

    static func blocks(in lines: [String], page: String) -> [TutorialCodeBlock] {
        var blocks: [TutorialCodeBlock] = []
        var index = 0
        while index < lines.count {
            guard lines[index].trimmingCharacters(in: .whitespaces) == "```swift" else {
                index += 1
                continue
            }
            let opening = index
            var closing = index + 1
            while closing < lines.count && lines[closing].trimmingCharacters(in: .whitespaces) != "```" { closing += 1 }
            var marker: TutorialCodeBlock.Marker?
            if opening > 0 {
                let previous = lines[opening - 1].trimmingCharacters(in: .whitespaces)
                if previous.hasPrefix("<!-- snippet: "), previous.hasSuffix(" -->") {
                    let words = previous.dropFirst(14).dropLast(4).split(separator: " ")
                    if words.count == 2 { marker = .snippet(path: String(words[0]), name: String(words[1])) }
                } else if previous.hasPrefix("<!-- compile-fails: "), previous.hasSuffix(" -->") {
                    marker = .compileFails(expected: String(previous.dropFirst(20).dropLast(4)))
                }
            }
            let code = lines[(opening + 1)..<min(closing, lines.count)].joined(separator: "\n")
            blocks.append(TutorialCodeBlock(page: page, line: opening + 1, marker: marker, codeLines: (opening + 1)..<closing, code: code))
            index = closing + 1
        }
        return blocks
    }

    /// Region `name` of Sources/`path`, between `// snippet:begin name` and `// snippet:end`,
    /// with the common indentation removed.
    static func region(path: String, name: String) throws -> String? {
        let source = try String(contentsOf: packageRoot.appendingPathComponent("Sources").appendingPathComponent(path), encoding: .utf8)
        let lines = source.components(separatedBy: "\n")
        guard let begin = lines.firstIndex(where: { $0.trimmingCharacters(in: .whitespaces) == "// snippet:begin \(name)" }),
            let end = lines[begin...].firstIndex(where: { $0.trimmingCharacters(in: .whitespaces) == "// snippet:end" })
        else { return nil }
        let body = Array(lines[(begin + 1)..<end])
        let indent =
            body.filter { !$0.trimmingCharacters(in: .whitespaces).isEmpty }
            .map { $0.prefix { $0 == " " }.count }.min() ?? 0
        return body.map { $0.count >= indent ? String($0.dropFirst(indent)) : "" }.joined(separator: "\n")
    }
}

@Suite("Tutorial pages")
struct TutorialDocsTests {
    @Test("every Swift block in docs/tutorial is a snippet of a compiled example or a checked compile failure")
    func snippetsQuoteTheExamples() throws {
        let update = ProcessInfo.processInfo.environment["TORUS_UPDATE_SNIPPETS"] == "1"
        let pages = try TutorialPages.pages()
        #expect(pages.count >= 8, "docs/tutorial should hold an index and seven chapters")
        var snippetCount = 0
        for page in pages {
            var lines = try String(contentsOf: page, encoding: .utf8).components(separatedBy: "\n")
            // Replace from the bottom so earlier line numbers stay valid while updating.
            for block in TutorialPages.blocks(in: lines, page: page.lastPathComponent).reversed() {
                switch block.marker {
                case nil:
                    Issue.record("\(block.page):\(block.line): a swift block without a snippet or compile-fails marker")
                case .compileFails:
                    continue
                case .snippet(let path, let name):
                    snippetCount += 1
                    guard let expected = try TutorialPages.region(path: path, name: name) else {
                        Issue.record("\(block.page):\(block.line): no region \(name) in Sources/\(path)")
                        continue
                    }
                    if update {
                        lines.replaceSubrange(block.codeLines, with: expected.components(separatedBy: "\n"))
                    } else {
                        #expect(
                            block.code == expected,
                            "\(block.page):\(block.line) differs from \(path) \(name); run TORUS_UPDATE_SNIPPETS=1 swift test --filter TutorialDocsTests"
                        )
                    }
                }
            }
            if update { try lines.joined(separator: "\n").write(to: page, atomically: true, encoding: .utf8) }
        }
        #expect(snippetCount >= 20)
    }

    @Test("the snippets that show a compiler error really fail to compile, with that error")
    func compileFailuresFail() throws {
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var checked = 0
        for page in try TutorialPages.pages() {
            let lines = try String(contentsOf: page, encoding: .utf8).components(separatedBy: "\n")
            for block in TutorialPages.blocks(in: lines, page: page.lastPathComponent) {
                guard case .compileFails(let expected) = block.marker else { continue }
                let file = "\(directory)/snippet\(checked).swift"
                try block.code.write(toFile: file, atomically: true, encoding: .utf8)
                // -emit-sil: the data-race diagnostics of region isolation run after type checking.
                // TMPDIR: the compiler driver leaves a scratch directory behind; keep it in ours.
                let outcome = try runProcess(
                    "/usr/bin/env", ["TMPDIR=\(directory)", "swiftc", "-swift-version", "6", "-emit-sil", "-o", "/dev/null", file])
                #expect(outcome.status != 0, "\(block.page):\(block.line) compiled, but the page says it does not")
                #expect(outcome.stderr.contains(expected), "\(block.page):\(block.line): expected \"\(expected)\" in:\n\(outcome.stderr)")
                checked += 1
            }
        }
        #expect(checked >= 3)
    }
}

extension RuntimeSuite {
    @Suite("Tutorial examples")
    struct TutorialExamples {
        /// Runs `tutorial-NAME` and returns its stdout, expecting exit status 0.
        func run(_ name: String, _ arguments: [String] = []) throws -> String {
            let outcome = try runProcess(builtExecutable("tutorial-\(name)"), arguments)
            #expect(outcome.status == 0, "tutorial-\(name): \(outcome.stderr)")
            return outcome.stdout
        }

        @Test("chapters 1, 4 and 6 against a mini-redis server")
        func withMiniRedis() throws {
            let server = try ListeningProcess("mini-redis-server", ["--port", "0", "--cores", "2"])
            // By name: the examples' clients resolve host names (their default is localhost:6379).
            let hello = try run("hello", ["localhost:\(server.port)"])
            #expect(hello.contains("got value from the server; result=world"))
            #expect(hello.contains("hello from core 0 of 1"))
            // One core per allowed CPU (the examples use the default layout).
            #expect(hello.contains("core \(Runtime.allowedCPUs.count - 1) runs on CPU"))

            let channels = try run("channels", [server.address])
            #expect(channels.contains("GOT (Set) = OK"))
            #expect(channels.contains("GOT (Get) = bar"))
            #expect(channels.contains("consumed 50 jobs; the queue never held more than 4"))
            #expect(channels.contains("8 clients served, at most 2 at a time"))

            let bridging = try run("bridging", [server.address])
            #expect(bridging.contains("finished time-consuming work on the main thread\ntask 0 slept 100 ms"))
            #expect(bridging.contains("task 9 slept 55 ms"))
            #expect(bridging.contains("job 2 done on core 0"))
            #expect(bridging.contains("blocking client got world"))
            let (status, _) = server.terminate()
            #expect(status == miniRedisStatusAfterSIGTERM)
        }

        @Test("chapter 2: join handles, cancellation, sending captures, per-core actors, parked tasks")
        func spawning() throws {
            let output = try run("spawning", ["2000"])
            #expect(output.contains("GOT return value"))
            #expect(output.contains("the sleeper ended with CancellationError"))
            #expect(output.contains("the task counted to 2"))
            let cpus = Runtime.allowedCPUs.count
            #expect(output.contains("per-core caches counted \(1000 * cpus) hits on \(cpus) cores"))
            #expect(output.contains("2000 tasks parked on one core"))
        }

        @Test("chapter 3: Mutex, shards, AsyncMutex and an owner task all count right")
        func sharedState() throws {
            let output = try run("shared-state")
            #expect(output.contains("key0 = \(Runtime.allowedCPUs.count * 200_000 / 64)"))  // cores x 200,000 / 64 keys
            #expect(output.contains("CanIncrement:  20 increments"))
            #expect(output.contains("never interleaved: true"))
            #expect(output.contains("visits = \(Runtime.allowedCPUs.count * 1000)"))
        }

        @Test("chapter 5: files, and both echo servers answer the split client", arguments: ["echo-copy", "echo-manual"])
        func io(server mode: String) throws {
            let directory = try makeTemporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let files = try run("io", ["files", directory])
            #expect(files.contains("copied 12 bytes"))
            #expect(files.contains("the rest: us"))
            #expect(files.contains("whole file: \"hello, torus\\nappended line\""))

            let server = try ListeningProcess("tutorial-io", [mode, "0"])
            let client = try run("io", ["split-client", server.address])
            let received = client.components(separatedBy: "\n").filter { $0.hasPrefix("GOT ") }
                .map { $0.dropFirst(5).dropLast() }.joined()
            #expect(received == "hello\\r\\nworld\\r\\n", "\(client)")
            let (status, _) = server.terminate(signal: SIGINT)
            #expect(status == 0)
        }

        @Test("chapter 7: select, streams, and a graceful shutdown on SIGINT")
        func selectAndShutdown() throws {
            let output = try run("select")
            #expect(output.contains("rx2 completed first with two"))
            #expect(output.contains("received 100 of 100 in order: true"))
            #expect(output.contains(#"lines: ["hello", "world", "last"], after several timeouts"#))
            #expect(output.contains("worker 0 stopped\nworker 1 stopped\nworker 2 stopped\n"))
            #expect(output.contains("no answer: operation timed out"))
            #expect(output.contains("even squares: [0, 4, 16, 36, 64]"))
            #expect(output.contains("ticked 3 times"))
            #expect(output.contains("received SIGINT: shutting down"))
            #expect(output.components(separatedBy: "client got: server shutting down, goodbye").count == 3)
            #expect(output.contains("shutdown complete: 2 connections closed gracefully"))
        }
    }
}
