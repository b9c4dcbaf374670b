// `import Torus` brings swift-system's vocabulary types with it: `FilePath`, `FilePermissions`
// and `Errno` appear in Torus's API (File.open, IOError.errno, ...).
@_exported import SystemPackage
