import Foundation
import Testing
import TorusTestSupport
import TorusVersion

@testable import Torus

extension RuntimeSuite {
    @Suite("Program flags")
    struct ProgramFlags {
        @Test("--version prints the one shared version and exits 0", arguments: ["torus-cp", "torus-echo", "mini-redis-server"])
        func version(program: String) throws {
            let outcome = try runProcess(builtExecutable(program), ["--version"])
            #expect(outcome.status == 0, "\(outcome.stderr)")
            #expect(outcome.stdout == torusVersion + "\n")
            #expect(torusVersion.split(separator: ".").count == 3 && torusVersion.first!.isNumber, "\(torusVersion)")
        }

        @Test(
            "--help describes the program and its options and exits 0",
            arguments: [
                ("torus-cp", ["--recursive", "--preserve", "--cores", "--method", "--stats", "--json", "--version"]),
                ("torus-echo", ["server", "client", "bench", "--version"]),
                (
                    "mini-redis-server",
                    [
                        "--port", "--host", "--cores", "--maxclients", "--timeout", "--client-query-buffer-limit",
                        "--client-output-buffer-limit", "--version",
                    ]
                ),
            ])
        func help(program: String, options: [String]) throws {
            let outcome = try runProcess(builtExecutable(program), ["--help"])
            #expect(outcome.status == 0, "\(outcome.stderr)")
            #expect(outcome.stdout.contains("USAGE: \(program)"), "\(outcome.stdout)")
            for option in options { #expect(outcome.stdout.contains(option), "\(program) --help does not mention \(option)") }
        }

        @Test(
            "mini-redis-server: usage errors exit 1 and say what is wrong",
            arguments: [
                (["--bogus"], "Unknown option '--bogus'"),
                (["--port", "99999"], "'99999' is invalid for '--port"),
                (["--port"], "Missing value for '--port"),
                (["--cores", "0"], "--cores needs a positive number, got 0"),
                (["--maxclients", "0"], "--maxclients needs a positive number, got 0"),
                (["--client-query-buffer-limit", "12"], "--client-query-buffer-limit needs a size of at least 1kb"),
                (["--client-output-buffer-limit", "normal 1 2 3"], "--client-output-buffer-limit takes \"pubsub HARD SOFT SECONDS\""),
                (["extra"], "Unexpected argument 'extra'"),
            ])
        func usageErrors(arguments: [String], message: String) throws {
            let outcome = try runProcess(builtExecutable("mini-redis-server"), arguments)
            #expect(outcome.status == 1)
            #expect(outcome.stderr.contains(message), "\(outcome.stderr)")
            #expect(outcome.stdout.isEmpty, "\(outcome.stdout)")
        }

        @Test("mini-redis-server --host takes a name: localhost listens on 127.0.0.1, an unknown name exits 1 naming it")
        func hostName() throws {
            let server = try ListeningProcess("mini-redis-server", ["--port", "0", "--cores", "1", "--host", "localhost"])
            #expect(server.address == "127.0.0.1:\(server.port)")
            #expect(try redisCLI(port: server.port, ["PING"]).output == "PONG")
            #expect(server.terminate().0 == miniRedisStatusAfterSIGTERM)
            let unknown = try runProcess(builtExecutable("mini-redis-server"), ["--port", "0", "--cores", "1", "--host", "nosuch.invalid"])
            #expect(unknown.status == 1)
            #expect(unknown.stderr.contains("getaddrinfo \"nosuch.invalid\""), "\(unknown.stderr)")
        }
    }
}
