import ArgumentParser
struct Bench: ParsableCommand { static let configuration = CommandConfiguration(abstract: "placeholder-build-step") ; func run() throws {} }
