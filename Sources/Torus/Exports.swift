// `import Torus` brings swift-system's vocabulary types with it: `FilePath` (and its
// `Component`, for directory entry names), `FilePermissions`, `FileDescriptor` and `Errno`
// appear in Torus's API (File.open, File.descriptor, DirectoryEntry.name, IOError.errno, ...).
@_exported import SystemPackage
// Channels, synchronization primitives, cancel scopes and `select` live in a module of their own
// that needs no io_uring (Sources/TorusChannels); they are part of Torus's API.
@_exported import TorusChannels
