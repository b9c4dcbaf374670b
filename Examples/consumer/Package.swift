// swift-tools-version: 6.1
import PackageDescription

// A package that uses Torus the way a user's would: by path here, by URL in a real project
// (see the README's "Use Torus in your package"). CI builds and runs it in Swift 6 mode with
// MemberImportVisibility, so every public type it names must be reachable from `import Torus`.
//
// `traits: []` turns off Torus's default traits (the command-line programs and the optional
// modules), so this package resolves the library's dependencies and nothing more; CI compares
// its Package.resolved with that list (.ci/check-consumer-pins).
//
// `Torus` is a symlink to the repository root: a path dependency's identity is its last path
// component, and this keeps it "Torus" wherever the repository is cloned.
let package = Package(
    name: "TorusConsumer",
    dependencies: [.package(path: "Torus", traits: [])],
    targets: [
        .executableTarget(
            name: "consumer",
            dependencies: [.product(name: "Torus", package: "Torus")],
            swiftSettings: [.swiftLanguageMode(.v6), .enableUpcomingFeature("MemberImportVisibility")]
        )
    ]
)
