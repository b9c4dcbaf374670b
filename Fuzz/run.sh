#!/usr/bin/env bash
# Builds the libFuzzer targets and runs each for a bounded time.
#
#   Fuzz/run.sh [SECONDS] [TARGET...]     default: $TORUS_FUZZ_SECONDS, else 60 s per target;
#                                         every target (resp, socket-address, cp-size)
#
# Each target is one harness in Fuzz/Targets compiled with the package sources it tests
# (swiftc -parse-as-library -sanitize=fuzzer,address: libFuzzer's coverage and AddressSanitizer;
# Swift's own bounds and overflow checks stay on at -O). The sources are compiled straight into
# the fuzzer instead of through SwiftPM: `swift build -Xswiftc -sanitize=fuzzer` would link
# libFuzzer's main into every executable and test bundle of the package.
#
# Fuzz/corpus/TARGET holds the seeds and every input that once found a bug (regression inputs:
# each is run first, every time). New inputs the fuzzer finds go to .build/fuzz/corpus/TARGET
# and are kept between local runs; a crash leaves its input in .build/fuzz/artifacts and fails
# the script. To replay one: .build/fuzz/TARGET FILE.
set -euo pipefail
cd "$(dirname "$0")/.."
# Swift's crash handler reads the crashed stack, which AddressSanitizer reports as an error of
# its own: let libFuzzer print the failure instead.
export SWIFT_BACKTRACE=enable=no

seconds="${1:-${TORUS_FUZZ_SECONDS:-60}}"
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(resp socket-address cp-size)

sources_for() {
    case "$1" in
        resp) echo Sources/MiniRedis/Frame.swift Sources/MiniRedis/FrameParser.swift Sources/MiniRedis/RequestParser.swift ;;
        socket-address) echo Sources/Torus/Net/SocketAddress.swift Sources/Torus/Net/HostAndPort.swift ;;
        cp-size) echo Sources/torus-cp/SizeArgument.swift ;;
        *) echo "Fuzz/run.sh: unknown target $1" >&2; exit 64 ;;
    esac
}

out=.build/fuzz
mkdir -p "$out/artifacts"
status=0
for target in "${targets[@]}"; do
    # shellcheck disable=SC2046
    nice -n 10 swiftc -parse-as-library -sanitize=fuzzer,address -O -g \
        -module-name "Fuzz_${target//-/_}" \
        Fuzz/Targets/FuzzInput.swift "Fuzz/Targets/$target.swift" $(sources_for "$target") \
        -o "$out/$target"
    mkdir -p "$out/corpus/$target" "Fuzz/corpus/$target"
    echo "Fuzz/run.sh: $target for ${seconds}s" >&2
    # -rss_limit_mb: the parser must not allocate for what a header merely announces.
    dictionary=()
    [ -f "Fuzz/$target.dict" ] && dictionary=(-dict="Fuzz/$target.dict")
    if ! nice -n 10 "$out/$target" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=1024 \
        -max_len=4096 -print_final_stats=1 -artifact_prefix="$out/artifacts/$target-" "${dictionary[@]}" \
        "$out/corpus/$target" "Fuzz/corpus/$target" 2> "$out/$target.log"; then
        tail -40 "$out/$target.log" >&2
        echo "Fuzz/run.sh: $target FAILED; the input is in $out/artifacts (log: $out/$target.log)" >&2
        status=1
    else
        grep -E "^stat::number_of_executed_units|^Done" "$out/$target.log" | tr '\n' ' ' >&2
        echo >&2
    fi
done
exit $status
