// swift-tools-version: 6.1
import PackageDescription

// Torus: a thread-per-core Swift async runtime on io_uring.
//
// Dependencies are kept short on purpose: liburing (the one system library, wrapped by
// `CUring`), swift-system, whose `Errno`, `FilePath` and `FilePermissions` are the
// vocabulary types a Swift user already knows for system errors and paths, and swift-log,
// the logging API the Swift server ecosystem shares. Everything else is behind a package
// trait (SE-0450), so that a package depending on Torus with `traits: []` resolves those two
// and nothing more (CI checks it with Examples/consumer): SwiftPM leaves a dependency out of
// resolution when every use of it is under a trait nobody enabled.
let strict: [SwiftSetting] = [
    .swiftLanguageMode(.v6),
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

// Uses of the dependencies behind traits: a consumer without the trait does not resolve them.
let programs: TargetDependencyCondition? = .when(traits: ["Programs"])
let argumentParser: Target.Dependency = .product(name: "ArgumentParser", package: "swift-argument-parser", condition: programs)
let serviceLifecycle: Target.Dependency = .product(
    name: "ServiceLifecycle", package: "swift-service-lifecycle", condition: .when(traits: ["ServiceLifecycle"]))
let unixSignals: Target.Dependency = .product(
    name: "UnixSignals", package: "swift-service-lifecycle", condition: .when(traits: ["ServiceLifecycle"]))
let coreMetrics: Target.Dependency = .product(name: "CoreMetrics", package: "swift-metrics", condition: .when(traits: ["Metrics"]))

// Linux only: Torus is built on io_uring. No `platforms` entry can say that, so the library
// states it at compile time (Sources/Torus/Platform.swift).
let package = Package(
    name: "Torus",
    products: [
        .library(name: "Torus", targets: ["Torus"]),
        // Optional modules, each needing its trait (and its dependency) in a consumer.
        .library(name: "TorusServiceLifecycle", targets: ["TorusServiceLifecycle"]),
        .library(name: "TorusMetrics", targets: ["TorusMetrics"]),
        .executable(name: "torus-demo", targets: ["torus-demo"]),
        .executable(name: "torus-echo", targets: ["torus-echo"]),
        .executable(name: "torus-cp", targets: ["torus-cp"]),
        .library(name: "MiniRedis", targets: ["MiniRedis"]),
        .executable(name: "mini-redis-server", targets: ["mini-redis-server"]),
    ],
    // On by default, so that `swift build`, `swift test` and `swift run` in this repository
    // build everything; a consumer that wants the library alone says `traits: []`, one that
    // wants an optional module names its trait (README, "Use Torus in your package").
    traits: [
        // mini-redis-server runs in a ServiceGroup and reports through TorusMetrics, so the
        // programs need the other two traits' modules as well.
        .trait(
            name: "Programs",
            description:
                "The command-line programs (torus-echo, torus-cp, mini-redis-server): swift-argument-parser, hdrhistogram-swift, swift-prometheus; turns on ServiceLifecycle and Metrics",
            enabledTraits: ["ServiceLifecycle", "Metrics"]),
        .trait(name: "ServiceLifecycle", description: "The TorusServiceLifecycle module: swift-service-lifecycle"),
        .trait(name: "Metrics", description: "The TorusMetrics module: swift-metrics"),
        .default(enabledTraits: ["Programs", "ServiceLifecycle", "Metrics"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-system", from: "1.8.1"),
        // The Swift server ecosystem's logging API: the runtime reports stalls, fallbacks and
        // abandoned tasks through a `Logger` the user configures.
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        // For the command-line programs only (never a dependency of the Torus library); every
        // use is under the `Programs` trait:
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift", from: "0.2.0"),
        // mini-redis-server's `--metrics-port`: the Prometheus text format.
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        // For the optional modules, each under its trait:
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
    ],
    targets: [
        // liburing, found with pkg-config; SwiftPM suggests `apt install liburing-dev` if absent.
        .systemLibrary(
            name: "CLibUring",
            path: "CUring/System",
            pkgConfig: "liburing",
            // liburing 2.3 or newer (Debian 12, Ubuntu 24.04, Fedora 38 and later).
            providers: [.apt(["liburing-dev"]), .yum(["liburing-devel"])]
        ),
        // The C shim over it: the only code that includes liburing.h (see CUring/Shim/include).
        .target(
            name: "CUring",
            dependencies: ["CLibUring"],
            path: "CUring/Shim",
            linkerSettings: [.linkedLibrary("uring")]
        ),
        // The ring layer: the only module that imports CUring. No concurrency in here.
        .target(
            name: "TorusRing",
            dependencies: ["CUring", .product(name: "SystemPackage", package: "swift-system")],
            swiftSettings: strict
        ),
        // Channels, synchronization, cancel scopes and `select`: pure Swift, no io_uring. Built,
        // run and tested without a ring (Tests/TorusChannelsTests); `import Torus` re-exports it,
        // and Torus's cores lend it their ring timers (RuntimeThreadTimers).
        .target(
            name: "TorusChannels",
            swiftSettings: strict
        ),
        // Executors, runtime, the ring driver, timers, blocking pool, files and sockets.
        .target(
            name: "Torus",
            dependencies: [
                "TorusRing",
                "TorusChannels",
                .product(name: "SystemPackage", package: "swift-system"),
                .product(name: "Logging", package: "swift-log"),
            ],
            // `Lifetimes`: the `RawSpan` properties of received and I/O buffers borrow their
            // buffer (`@_lifetime`). An experimental feature, not an unsafe flag: SwiftPM
            // accepts it in a dependency.
            swiftSettings: strict + [.enableExperimentalFeature("Lifetimes")]
        ),
        // Torus under swift-service-lifecycle's `ServiceGroup`: a `Service` that runs a runtime,
        // graceful shutdown flowing from the group to the tasks on the cores.
        .target(
            name: "TorusServiceLifecycle",
            dependencies: ["Torus", serviceLifecycle, .product(name: "Logging", package: "swift-log")],
            swiftSettings: strict
        ),
        // Per-core runtime counters reported to swift-metrics.
        .target(
            name: "TorusMetrics",
            dependencies: ["Torus", .product(name: "CoreMetrics", package: "swift-metrics", condition: .when(traits: ["Metrics"]))],
            swiftSettings: strict
        ),
        // The version string the command-line programs print for `--version` (one place for
        // all of them; not part of the Torus library).
        .target(name: "TorusVersion", swiftSettings: strict),
        .executableTarget(
            name: "torus-demo",
            dependencies: ["Torus"],
            swiftSettings: strict
        ),
        // The echo server, load generator and benchmark driver.
        .executableTarget(
            name: "torus-echo",
            dependencies: [
                "Torus",
                "TorusVersion",
                argumentParser,
                .product(name: "Histogram", package: "hdrhistogram-swift", condition: programs),
            ],
            swiftSettings: strict
        ),
        // The extended-attribute calls torus-cp needs, which Swift's Glibc module does not import.
        .target(name: "CXattr"),
        // The file-copy command.
        .executableTarget(
            name: "torus-cp",
            dependencies: ["Torus", "TorusVersion", "CXattr", argumentParser],
            swiftSettings: strict,
            // A command people put in their PATH: the Swift runtime linked in, so the binary
            // runs without the toolchain's libraries and starts in 5.6 ms instead of 8.5 ms
            // (dynamic loading and relocating them was most of a one-file copy).
            // Release builds only: the test bundle links the executables' code too, and cannot
            // be linked statically. The two extra libraries are what FoundationEssentials (from
            // ArgumentParser) needs when linked statically, which swiftc's static list omits.
            linkerSettings: [
                .unsafeFlags(
                    ["-static-stdlib", "-Xlinker", "-l_FoundationCollections", "-Xlinker", "-l_FoundationCShims"],
                    .when(configuration: .release))
            ]
        ),
        // mini-redis on Torus (the seed's running example): RESP2 codec, server, async and
        // blocking clients. An example application, not part of the Torus library.
        .target(
            name: "MiniRedis",
            dependencies: ["Torus", .product(name: "Logging", package: "swift-log")],
            swiftSettings: strict
        ),
        // Runs as a ServiceGroup (signals, graceful shutdown) with a swift-log Logger, and
        // exposes Prometheus metrics on request (`--metrics-port`).
        .executableTarget(
            name: "mini-redis-server",
            dependencies: [
                "MiniRedis", "TorusVersion", "TorusServiceLifecycle", "TorusMetrics", argumentParser, serviceLifecycle, unixSignals,
                coreMetrics, .product(name: "Logging", package: "swift-log"),
                .product(name: "Prometheus", package: "swift-prometheus", condition: programs),
            ],
            swiftSettings: strict
        ),
        // The tutorial's runnable examples (docs/tutorial/), one per chapter; the tests run them
        // and check that the docs quote them exactly.
        .executableTarget(name: "tutorial-hello", dependencies: ["MiniRedis", "Torus"], path: "Sources/Tutorial/hello", swiftSettings: strict),
        .executableTarget(name: "tutorial-spawning", dependencies: ["Torus"], path: "Sources/Tutorial/spawning", swiftSettings: strict),
        .executableTarget(name: "tutorial-shared-state", dependencies: ["Torus"], path: "Sources/Tutorial/shared-state", swiftSettings: strict),
        .executableTarget(name: "tutorial-channels", dependencies: ["MiniRedis", "Torus"], path: "Sources/Tutorial/channels", swiftSettings: strict),
        .executableTarget(name: "tutorial-io", dependencies: ["Torus"], path: "Sources/Tutorial/io", swiftSettings: strict),
        .executableTarget(name: "tutorial-bridging", dependencies: ["MiniRedis", "Torus"], path: "Sources/Tutorial/bridging", swiftSettings: strict),
        .executableTarget(name: "tutorial-select", dependencies: ["Torus"], path: "Sources/Tutorial/select", swiftSettings: strict),
        // Child-process scenarios for the tests (memlock limits, leak counts after shutdown).
        .executableTarget(
            name: "TorusTestHelper",
            dependencies: ["Torus"],
            swiftSettings: strict
        ),
        // A child process running a ServiceGroup with a Torus service, for the SIGTERM test.
        .executableTarget(
            name: "TorusServiceHelper",
            dependencies: [
                "Torus", "TorusServiceLifecycle", serviceLifecycle, .product(name: "Logging", package: "swift-log"),
                unixSignals,
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "TorusServiceLifecycleTests",
            dependencies: ["Torus", "TorusServiceLifecycle", "TorusServiceHelper", serviceLifecycle],
            swiftSettings: strict
        ),
        .testTarget(
            name: "TorusMetricsTests",
            dependencies: [
                "Torus", "TorusMetrics",
                .product(name: "CoreMetrics", package: "swift-metrics", condition: .when(traits: ["Metrics"])),
                .product(name: "MetricsTestKit", package: "swift-metrics", condition: .when(traits: ["Metrics"])),
            ],
            swiftSettings: strict
        ),
        // The ring driver on a bare ring, without runtime threads.
        .testTarget(
            name: "TorusDriverTests",
            dependencies: ["Torus", "TorusRing", .product(name: "Logging", package: "swift-log")],
            swiftSettings: strict
        ),
        .testTarget(
            name: "TorusRingTests",
            dependencies: ["TorusRing"],
            swiftSettings: strict
        ),
        // What every test target shares: the serialized root suite, runtimes, temporary
        // directories, child processes (the programs, redis-cli), exact tree comparison.
        .target(
            name: "TorusTestSupport",
            dependencies: ["Torus", .product(name: "Logging", package: "swift-log")],
            path: "Tests/TorusTestSupport",
            swiftSettings: strict
        ),
        // Channels, synchronization, cancel scopes and select on plain Swift tasks: no io_uring.
        .testTarget(
            name: "TorusChannelsTests",
            dependencies: ["TorusChannels"],
            swiftSettings: strict
        ),
        // Cores, scheduling, the mailbox, timers, shutdown, signals, metrics, cancellation, and
        // channels across cores.
        .testTarget(
            name: "TorusRuntimeTests",
            dependencies: ["Torus", "TorusRing", "TorusTestSupport", "TorusTestHelper", .product(name: "Logging", package: "swift-log")],
            swiftSettings: strict
        ),
        // Files, sockets, descriptors, provided buffers, fault injection, host names.
        .testTarget(
            name: "TorusIOTests",
            dependencies: ["Torus", "TorusRing", "TorusTestSupport", "torus-cp", "torus-echo", .product(name: "Logging", package: "swift-log")],
            swiftSettings: strict
        ),
        // mini-redis: the library, the server against redis-cli, hostile clients, the RESP parser.
        .testTarget(
            name: "MiniRedisTests",
            dependencies: ["Torus", "TorusTestSupport", "MiniRedis", "mini-redis-server", .product(name: "Logging", package: "swift-log")],
            swiftSettings: strict
        ),
        // torus-cp against GNU cp.
        .testTarget(
            name: "TorusCopyTests",
            dependencies: ["Torus", "TorusTestSupport", "torus-cp", "CXattr"],
            swiftSettings: strict
        ),
        // torus-echo, and the flags every program shares (--version, --help, exit statuses).
        .testTarget(
            name: "TorusEchoTests",
            dependencies: ["Torus", "TorusTestSupport", "torus-echo", "torus-cp", "mini-redis-server", "TorusVersion"],
            swiftSettings: strict
        ),
        // The tutorial's programs and the README's snippets.
        .testTarget(
            name: "TutorialTests",
            dependencies: [
                "Torus", "TorusTestSupport", "MiniRedis",
                "tutorial-hello", "tutorial-spawning", "tutorial-shared-state", "tutorial-channels",
                "tutorial-io", "tutorial-bridging", "tutorial-select",
            ],
            swiftSettings: strict
        ),
    ]
)
