import Foundation
import Testing
import TorusTestSupport

@testable import Torus

extension RuntimeSuite {
    @Suite("torus-cp --json")
    struct CopyJSON {
        /// The last line of stderr that is a JSON object, parsed.
        static func statistics(_ stderr: String) throws -> [String: Any] {
            let line = try #require(stderr.split(separator: "\n").last { $0.hasPrefix("{") }, "no JSON line in: \(stderr)")
            return try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        }

        @Test(
            "a tree: one JSON object on stderr whose counts match the copied tree, every documented key present",
            arguments: ["auto", "read-write", "splice"])
        func tree(method: String) throws {
            let root = try makeTemporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: root) }
            let manager = FileManager.default
            try manager.createDirectory(atPath: root + "/src/a/b", withIntermediateDirectories: true)
            let sizes = [0, 1, 4096, 300_000, 1 << 20]
            for (index, size) in sizes.enumerated() {
                _ = manager.createFile(
                    atPath: root + "/src/\(index % 2 == 0 ? "a" : "a/b")/f\(index)",
                    contents: Data(pseudoRandomBytes(size, seed: UInt64(index))))
            }
            try manager.createSymbolicLink(atPath: root + "/src/link", withDestinationPath: "a/f0")
            let outcome = try torusCopy(["-r", "--json", "--no-progress", "--chunk-size", "64K", "--method", method, root + "/src", root + "/dst"])
            #expect(outcome.status == 0, "\(outcome.stderr)")
            #expect(outcome.stdout.isEmpty, "stdout is for -v: \(outcome.stdout)")
            #expect(outcome.stderr.split(separator: "\n").count == 1, "--json implies --stats, and prints only the object: \(outcome.stderr)")
            let stats = try Self.statistics(outcome.stderr)
            let keys: Set = [
                "files", "directories", "symbolic_links", "skipped", "failures", "bytes", "bytes_by_route",
                "method", "seconds", "bytes_per_second", "cpu_seconds", "signal",
            ]
            #expect(Set(stats.keys) == keys, "\(stats.keys.sorted())")
            #expect(stats["files"] as? Int == sizes.count)
            #expect(stats["directories"] as? Int == 3)  // src itself, a, a/b
            #expect(stats["symbolic_links"] as? Int == 1)
            #expect(stats["skipped"] as? Int == 0)
            #expect(stats["failures"] as? Int == 0)
            #expect(stats["bytes"] as? Int == sizes.reduce(0, +))
            #expect(stats["method"] as? String == method)
            #expect(stats["signal"] is NSNull)
            let seconds = try #require(stats["seconds"] as? Double)
            #expect(seconds > 0 && seconds < 60)
            #expect((stats["cpu_seconds"] as? Double ?? -1) >= 0)
            let rate = try #require(stats["bytes_per_second"] as? Double)
            #expect(abs(rate - Double(sizes.reduce(0, +)) / seconds) <= max(1, rate * 0.01), "\(rate) vs bytes / seconds")
            let routes = try #require(stats["bytes_by_route"] as? [String: Int])
            #expect(Set(routes.keys) == ["copy_file_range", "splice", "read_write"])
            #expect(routes.values.reduce(0, +) == sizes.reduce(0, +), "every byte counted under one route: \(routes)")
            // Files of one chunk or less move by one read and one write whatever the method.
            switch method {
            case "read-write": #expect(routes["read_write"] == sizes.reduce(0, +), "\(routes)")
            case "splice": #expect(routes["copy_file_range"] == 0 && routes["splice"]! > 0, "\(routes)")
            default: #expect(routes["splice"] == 0, "\(routes)")
            }
            #expect(try treeSignature(root + "/dst") == treeSignature(root + "/src"))
        }

        @Test("failures and skips are counted: a missing source is one failure, -n an existing destination one skip")
        func failuresAndSkips() throws {
            let root = try makeTemporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: root) }
            _ = FileManager.default.createFile(atPath: root + "/a", contents: Data("a".utf8))
            _ = FileManager.default.createFile(atPath: root + "/b", contents: Data("b".utf8))
            try FileManager.default.createDirectory(atPath: root + "/into", withIntermediateDirectories: false)
            _ = FileManager.default.createFile(atPath: root + "/into/b", contents: Data("old".utf8))
            let outcome = try torusCopy(["-n", "--json", "--no-progress", root + "/a", root + "/b", root + "/missing", root + "/into"])
            #expect(outcome.status == 1)
            let stats = try Self.statistics(outcome.stderr)
            #expect(stats["files"] as? Int == 1)
            #expect(stats["skipped"] as? Int == 1)
            #expect(stats["failures"] as? Int == 1)
            #expect(stats["bytes"] as? Int == 1)
        }
    }
}
