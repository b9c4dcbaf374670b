/// The version of this package's programs (torus-cp, torus-echo, mini-redis-server), which
/// `--version` prints: one place for the three, so they never disagree. Change it when
/// tagging a release.
public let torusVersion = "0.1.0"
