// Torus is a runtime on io_uring, a Linux interface: say so at compile time elsewhere rather
// than with a page of missing-symbol errors.
#if !os(Linux)
    #error("Torus runs on Linux only: it is built on io_uring (and liburing 2.3 or newer)")
#endif
