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
#   ./dev.sh format | lint   swift-format (.swift-format) over the Swift sources: rewrite them,
#                    or check them as CI does
#   ./dev.sh release   the programs people install (torus-cp, torus-echo, mini-redis-server),
#                    release builds with liburing linked in statically, in .build/release
#   ./dev.sh man [DIR]   their man pages, generated from --help, checked to render (.build/man)
#   ./dev.sh install-man [DIR]   the man pages into DIR (default /usr/local/share/man/man1)
#   ./dev.sh install [PREFIX]    release + install-man: PREFIX/bin and PREFIX/share/man/man1
#                    (default /usr/local)
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
            man) command -v man >/dev/null 2>&1 || missing+=(man-db)
                 command -v groff >/dev/null 2>&1 || missing+=(groff-base) ;;
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

# The command-line programs: what `release`, `man` and `install` build.
programs=(torus-cp torus-echo mini-redis-server)

# Release builds of the programs with liburing's archive instead of its shared library, so that
# the binaries run where liburing is not installed (like torus-cp's static Swift runtime). Done
# from outside Package.swift: an `unsafeFlags` setting there would make SwiftPM refuse Torus as
# a dependency, and the library a consumer links is left as it is (shared liburing by default).
# SwiftPM puts liburing.pc's `-L${libdir}` (the system's, holding liburing.so and liburing.a)
# before any -L given on the command line, and the linker takes the first directory holding
# either file, preferring the .so. So these builds read a copy of liburing.pc whose libdir is a
# directory holding only the archive: -luring then means liburing.a.
build_release() {
    local libdir archive
    libdir="$(pkg-config --variable=libdir liburing)"
    archive="$libdir/liburing.a"
    if [ ! -f "$archive" ]; then
        echo "dev.sh: $archive not found (liburing-dev ships it on Debian and Ubuntu)" >&2
        exit 1
    fi
    local static_dir="$PWD/.build/liburing-static"
    mkdir -p "$static_dir"
    ln -sf "$archive" "$static_dir/liburing.a"
    sed "s|^libdir=.*|libdir=$static_dir|" "$(pkg-config --variable=pcfiledir liburing)/liburing.pc" > "$static_dir/liburing.pc"
    local program
    for program in "${programs[@]}"; do
        PKG_CONFIG_PATH="$static_dir${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}" swift build -c release --product "$program"
    done
    # The check CI relies on: no program may load liburing at run time.
    for program in "${programs[@]}"; do
        if ldd ".build/release/$program" | grep -q liburing; then
            echo "dev.sh: .build/release/$program still loads liburing:" >&2
            ldd ".build/release/$program" >&2
            exit 1
        fi
    done
    echo "dev.sh: ${programs[*]} in .build/release, liburing linked in statically"
}

# Man pages from the programs' --help (swift-argument-parser's generate-manual plugin, which
# builds the package in debug mode, as `swift build` and the tests do, and writes into
# .build/plugins), into the directory $1, each checked to render without a warning. They are
# generated, not committed: they say the same as --help, whose tests keep it right, and a
# committed copy would go stale (and carries the date it was made).
generate_man() {
    local out="$1"
    swift package plugin generate-manual --configuration debug
    mkdir -p "$out"
    local program page
    for program in "${programs[@]}"; do
        page=".build/plugins/GenerateManual/outputs/$program/$program.1"
        # A blank line (a paragraph break in a --help discussion) is a warning in mdoc; .Pp is
        # its paragraph macro.
        sed 's/^$/.Pp/' "$page" > "$out/$program.1"
        # C.UTF-8: a LANG naming a locale this machine lacks would make man warn about that.
        local warnings
        warnings=$(LC_ALL=C.UTF-8 MANWIDTH=80 man -l "$out/$program.1" 2>&1 >/dev/null)
        if [ -n "$warnings" ] || ! LC_ALL=C.UTF-8 MANWIDTH=80 man -l "$out/$program.1" 2>/dev/null | grep -q "^NAME"; then
            echo "dev.sh: $out/$program.1 does not render cleanly: $warnings" >&2
            exit 1
        fi
    done
    echo "dev.sh: man pages for ${programs[*]} in $out"
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
    format|lint)
        # Every Swift file but the tutorial's programs, which docs/tutorial quotes verbatim
        # (TutorialTests checks it) and which are laid out for reading on a page.
        mapfile -t files < <(git ls-files '*.swift' | grep -v '^Sources/Tutorial/')
        if [ "$command" = format ]; then
            exec swift format format --in-place --parallel "${files[@]}"
        fi
        exec swift format lint --strict --parallel "${files[@]}"
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
        suites='MPSCTests|OtherChannels|SyncPrimitives|CancelSafetyTests|CancelSafetyAttackTests|ProvidedBuffers|GatheredWriteTests|ReceivedBatchTests|BatchedFileReads|BatchedFileReadAttacks'
        suites+='|Cancellation|CancellationTokenTests|BlockingPool|MailboxStress|DescriptorOwnershipTests'
        suites+='|Start|Shutdown|Timers|Sockets|ProvidedBuffers|ListenerGroups|Files|IOCancelSafetyTests|SendQueueTests|SendQueueAttackTests|ForwardTests|DriverNestedReapTests'
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
                # LeakSanitizer on: a runtime once leaked its cores, tables and blocking pool
                # (~185 KB, a Core <-> RuntimeShared retain cycle) and this is what found it.
                # .ci/lsan.supp holds the leaks of XCTest and Foundation alone, each explained.
                # Copied world-readable, as the TSan file above: the memlock test's child runs
                # as nobody and must read it too.
                lsan_supp=$(mktemp "${TMPDIR:-/tmp}/torus-lsan-XXXXXX.supp")
                cp .ci/lsan.supp "$lsan_supp"
                chmod 644 "$lsan_supp"
                export LSAN_OPTIONS="suppressions=$lsan_supp print_suppressions=0 ${LSAN_OPTIONS:-}"
                export ASAN_OPTIONS="detect_leaks=1 detect_stack_use_after_return=1 ${ASAN_OPTIONS:-}"
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
    release)
        ensure_system_packages
        build_release
        ;;
    man)
        ensure_system_packages man
        generate_man "${1:-.build/man}"
        ;;
    install-man)
        ensure_system_packages man
        generate_man .build/man
        target="${1:-/usr/local/share/man/man1}"
        install -d "$target"
        for program in "${programs[@]}"; do install -m 644 ".build/man/$program.1" "$target/"; done
        echo "dev.sh: installed in $target (man ${programs[*]})"
        ;;
    install)
        ensure_system_packages man
        prefix="${1:-/usr/local}"
        build_release
        generate_man .build/man
        install -d "$prefix/bin" "$prefix/share/man/man1"
        for program in "${programs[@]}"; do
            install -m 755 ".build/release/$program" "$prefix/bin/"
            install -m 644 ".build/man/$program.1" "$prefix/share/man/man1/"
        done
        echo "dev.sh: installed ${programs[*]} in $prefix/bin, their man pages in $prefix/share/man/man1"
        ;;
    *)
        echo "usage: ./dev.sh demo|test|bench|echo-bench|docs|sanitize|fuzz|release|man|install-man|install [arguments]" >&2
        exit 64
        ;;
esac
