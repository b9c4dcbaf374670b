#!/usr/bin/env bash
# Torus developer entry point. Installs the one system dependency (liburing-dev) when it is
# missing, then:
#   ./dev.sh demo    build and run torus-demo (a tour of the runtime)
#   ./dev.sh test    run the test suite (swift test): what CI runs (also installs redis-tools)
#   ./dev.sh bench   build the Benchmarks package in release mode and run the comparisons
#   ./dev.sh echo-bench [--write docs/benchmarks.md]   torus-echo against SwiftNIO, pinned CPUs
#   ./dev.sh docs [--update|--coverage|--preview]   build and check the DocC documentation
#   ./dev.sh sanitize thread|address [swift test options]   the concurrency, I/O and shutdown
#                    suites under ThreadSanitizer or AddressSanitizer (own build directory)
#   ./dev.sh fuzz [SECONDS] [TARGET...]   the libFuzzer targets in Fuzz/ (Fuzz/run.sh)
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
    sanitize)
        ensure_system_packages
        kind="${1:-}"
        shift || true
        # The suites where a race or a memory error could hide: channels, synchronization,
        # select, cancellation and cancel safety, the mailbox stress, descriptor ownership,
        # start-up and shutdown (their child-process checks run TorusTestHelper, sanitized
        # too), timers, sockets, multishot receives, files, and the ring driver on a bare ring
        # (TorusDriverTests, outside the runtime suite). Left out: the suites that run the
        # programs (torus-cp, torus-echo, mini-redis-server, redis-cli, GNU cp) as child
        # processes hundreds of times; they test the programs' behaviour, which the plain run
        # covers, and a sanitized program start takes ~10x longer. The RESP parser has a fuzz
        # target instead (Fuzz/).
        suites='MPSCTests|OtherChannels|SyncPrimitives|CancelSafetyTests|CancelSafetyAttackTests'
        suites+='|Cancellation|CancellationTokenTests|BlockingPool|MailboxStress|DescriptorOwnershipTests'
        suites+='|Start|Shutdown|Timers|Sockets|ProvidedBuffers|ListenerGroups|Files|IOCancelSafetyTests'
        case "$kind" in
            thread)
                # .ci/tsan.supp: reports proven to be ThreadSanitizer blind spots, each with why.
                # Copied to a world-readable file: the memlock test runs TorusTestHelper as an
                # unprivileged user, and TSan exits if it cannot read the file (a clone under
                # mktemp -d is private).
                supp=$(mktemp "${TMPDIR:-/tmp}/torus-tsan-XXXXXX.supp")
                cp .ci/tsan.supp "$supp"
                chmod 644 "$supp"
                export TSAN_OPTIONS="suppressions=$supp second_deadlock_stack=1 ${TSAN_OPTIONS:-}"
                ;;
            address)
                # detect_leaks=0: LeakSanitizer reports, besides XCTest's own objects at exit, a
                # real retain cycle (Core.shared <-> RuntimeShared.cores) that keeps every
                # runtime's cores, operation tables and blocking pool (~185 KB) alive after
                # shutdown; not fixed yet (a stopped runtime's handles still hand out its cores).
                # Turn leak detection back on when it is: ASAN_OPTIONS=detect_leaks=1.
                export ASAN_OPTIONS="detect_leaks=0 detect_stack_use_after_return=1 ${ASAN_OPTIONS:-}"
                ;;
            *)
                echo "usage: ./dev.sh sanitize thread|address [swift test options]" >&2
                exit 64
                ;;
        esac
        scratch=".build/${kind:0:1}san"   # .build/tsan, .build/asan
        # The tests skip what a sanitizer makes meaningless (resident memory under ASan's
        # quarantine) and allow slower timing (TestSupport.swift: sanitizer, timingScale).
        export TORUS_SANITIZER="$kind"
        swift build --build-tests --sanitize="$kind" --scratch-path "$scratch"
        exec swift test --skip-build --sanitize="$kind" --scratch-path "$scratch" \
            --filter "RuntimeSuite/($suites)/|ChannelsWithoutRingTests/|DriverRingTests/" "$@"
        ;;
    fuzz)
        exec Fuzz/run.sh "$@"
        ;;
    *)
        echo "usage: ./dev.sh demo|test|bench|echo-bench|docs|sanitize|fuzz [arguments]" >&2
        exit 64
        ;;
esac
