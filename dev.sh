#!/usr/bin/env bash
# Torus developer entry point. Installs the one system dependency (liburing-dev) when it is
# missing, then:
#   ./dev.sh demo    build and run torus-demo (a tour of the runtime)
#   ./dev.sh test    run the test suite (swift test): what CI runs (also installs redis-tools)
#   ./dev.sh bench   build the Benchmarks package in release mode and run the comparisons
#   ./dev.sh echo-bench [--write docs/benchmarks.md]   torus-echo against SwiftNIO, pinned CPUs
#   ./dev.sh docs [--update|--coverage|--preview]   build and check the DocC documentation
set -euo pipefail
cd "$(dirname "$0")"

ensure_system_packages() {
    local missing=()
    [ -f /usr/include/liburing.h ] || missing+=(liburing-dev)
    command -v pkg-config >/dev/null 2>&1 || missing+=(pkg-config)
    # Extra tools a command needs (redis-cli for the mini-redis tests, say), by package name.
    local extra
    for extra in "$@"; do
        case "$extra" in
            redis-tools) command -v redis-cli >/dev/null 2>&1 || missing+=(redis-tools) ;;
            redis-server) command -v redis-server >/dev/null 2>&1 || missing+=(redis-server) ;;
        esac
    done
    if [ ${#missing[@]} -gt 0 ]; then
        local sudo=""
        [ "$(id -u)" = 0 ] || sudo="sudo"
        echo "dev.sh: installing ${missing[*]}" >&2
        $sudo apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
    fi
}

command="${1:-}"
shift || true
case "$command" in
    demo)
        ensure_system_packages
        swift build -c release --product torus-demo
        exec .build/release/torus-demo "$@"
        ;;
    test)
        # redis-tools: the mini-redis tests drive the server with the real redis-cli.
        ensure_system_packages redis-tools
        exec swift test "$@"
        ;;
    bench)
        ensure_system_packages redis-tools redis-server
        swift build -c release --product torus-cp
        swift build -c release --product mini-redis-server
        cd Benchmarks
        # The root package is a path dependency; drop the cached build plan so new source
        # files in it are always picked up.
        rm -f .build/*.yaml
        swift build -c release
        exec .build/release/torus-bench "$@"
        ;;
    echo-bench)
        ensure_system_packages
        swift build -c release --product torus-echo
        (cd Benchmarks && rm -f .build/*.yaml && swift build -c release --product nio-echo-server \
            && swift build -c release --product uring-echo-server)
        exec .build/release/torus-echo bench "$@"
        ;;
    docs)
        ensure_system_packages
        exec docs/build-docc.sh "$@"
        ;;
    *)
        echo "usage: ./dev.sh demo|test|bench|echo-bench|docs [arguments]" >&2
        exit 64
        ;;
esac
