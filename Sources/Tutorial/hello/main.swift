// Tutorial chapter 1, Hello Torus: start a runtime from synchronous `main`, run async code on
// it, and get the result back. Needs a mini-redis server (run `mini-redis-server` first).
//
//   tutorial-hello [SERVER_ADDRESS]      (default localhost:6379)
import MiniRedis
import Torus

let serverAddress = CommandLine.arguments.dropFirst().first ?? "localhost:6379"

do {
    // snippet:begin hello
    let value = try Runtime.run {
        let client = try await Client.connect(to: serverAddress)
        try await client.set("hello", "world")
        let result = try await client.get("hello")
        return result.map { String(decoding: $0, as: UTF8.self) }
    }
    print("got value from the server; result=\(value ?? "nil")")
    // snippet:end

    // snippet:begin by-hand
    // What `Runtime.run` does, by hand: start the cores, block on one entry point, shut down.
    let runtime = try Runtime(RuntimeConfiguration(cores: .count(1)))
    let greeting = try runtime.block {
        "hello from core \(Core.current!.index) of \(RuntimeHandle.current!.cores.count)"
    }
    print(greeting)
    runtime.shutdown()
    // snippet:end

    // snippet:begin cores
    // One core per CPU by default; each core is a pinned thread with its own io_uring ring.
    let placements = try Runtime.run {
        let cores = RuntimeHandle.current!.cores
        var seen: [String] = []
        for core in cores {
            let handle = spawn(on: .core(core.index)) { "core \(Core.current!.index) runs on CPU \(core.cpu.map(String.init) ?? "any")" }
            seen.append(try await handle.value)
        }
        return seen
    }
    for line in placements { print(line) }
    // snippet:end
} catch {
    print("tutorial-hello: \(error)")
    print("(is a mini-redis server running at \(serverAddress)? start one with: swift run mini-redis-server)")
}
