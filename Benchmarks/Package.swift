// swift-tools-version: 6.1
import PackageDescription

// Benchmarks for Torus, kept out of the library's package so that its heavy peers (SwiftNIO,
// ordo-one/benchmark) never become dependencies of Torus itself.
//
// - torus-bench: comparison programs that run Torus and its peer in the same process, same run,
//   and print ratios (`./dev.sh bench`, `--write ../docs/benchmarks.md`).
// - RuntimeBenchmarks: ordo-one/benchmark suites for tracking Torus's own numbers over time
//   (`swift package benchmark`).
//
// `Torus` is a symlink to the repository root: a path dependency's identity is the last path
// component, and this keeps it "Torus" wherever the repository is cloned.
let package = Package(
    name: "TorusBenchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(path: "Torus"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-async-algorithms", from: "1.1.4"),
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
    ],
    targets: [
        // The hand-written C liburing echo server: the reference torus-echo bench compares with.
        .executableTarget(
            name: "uring-echo-server",
            path: "Sources/uring-echo-server",
            linkerSettings: [.linkedLibrary("uring")]
        ),
        // SEND against SEND_ZC over loopback, in C: whether zero-copy sends would pay (issue 18).
        .executableTarget(
            name: "send-zc-reference",
            path: "Sources/send-zc-reference",
            linkerSettings: [.linkedLibrary("uring")]
        ),
        // torus-cp's peers besides cp (issue 18 item 4): a thread pool of copy_file_range copiers
        // and a plain io_uring read/write copier, in C.
        .executableTarget(
            name: "copy-reference",
            path: "Sources/copy-reference",
            linkerSettings: [.linkedLibrary("uring")]
        ),
        // The hand-written C liburing file reader: the floor torus-bench compares Torus's reads with.
        .target(
            name: "CReadReference",
            path: "Sources/CReadReference",
            linkerSettings: [.linkedLibrary("uring")]
        ),
        .executableTarget(
            name: "torus-bench",
            dependencies: [
                "CReadReference",
                .product(name: "Torus", package: "Torus"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "AsyncAlgorithms", package: "swift-async-algorithms"),
            ],
            path: "Sources/torus-bench",
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),
        .executableTarget(
            name: "nio-echo-server",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            path: "Sources/nio-echo-server",
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),
        .executableTarget(
            name: "RuntimeBenchmarks",
            dependencies: [
                .product(name: "Torus", package: "Torus"),
                .product(name: "Benchmark", package: "benchmark"),
            ],
            path: "Benchmarks/RuntimeBenchmarks",
            swiftSettings: [.swiftLanguageMode(.v6)],
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
    ]
)
