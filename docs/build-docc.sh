#!/usr/bin/env bash
# Builds the DocC documentation of the Torus library (Sources/Torus/Torus.docc plus the doc
# comments) and fails on any DocC warning: a broken ``symbol`` link, a parameter the comment
# does not describe, a page the catalog cannot resolve.
#
# No package plugin: a consumer of Torus must not resolve swift-docc-plugin, so this uses the
# toolchain's own `docc` on symbol graphs the compiler emits while building the Torus target
# (in its own scratch directory, so the flags never invalidate the normal debug build).
#
# It also checks that every public symbol of Torus has a doc comment (docs/filter-symbol-graphs.py)
# and that the tables of the "Cancel safety" article match the doc comments' notes
# (docs/cancel-safety-table.py).
#
#   docs/build-docc.sh               build and check; the archive is .build/docc/Torus.doccarchive
#   docs/build-docc.sh --update      rewrite the cancel-safety tables from the doc comments, then check
#   docs/build-docc.sh --coverage    also print DocC's documentation coverage (brief)
#   docs/build-docc.sh --preview     serve the documentation at http://localhost:8080/documentation/torus
set -euo pipefail
cd "$(dirname "$0")/.."

mode="${1:-}"
case "$mode" in
    ""|--update|--coverage|--preview) ;;
    *) echo "usage: docs/build-docc.sh [--update|--coverage|--preview]" >&2; exit 64 ;;
esac
scratch=.build/docc
graphs="$PWD/$scratch/symbol-graphs"
archive="$scratch/Torus.doccarchive"
docc="$(command -v docc || echo "$(dirname "$(command -v swift)")/docc")"
[ -x "$docc" ] || { echo "build-docc.sh: no docc next to swift ($docc); it ships with Swift 5.6+ toolchains" >&2; exit 1; }
command -v python3 >/dev/null || { echo "build-docc.sh: needs python3 (to filter symbol graphs)" >&2; exit 1; }

# The compiler rewrites the graphs whenever it compiles Torus; an up-to-date build keeps the
# last ones, so the directory is never emptied here.
mkdir -p "$graphs/all"
swift build --target Torus --scratch-path "$scratch" \
    -Xswiftc -emit-symbol-graph -Xswiftc -emit-symbol-graph-dir -Xswiftc "$graphs/all" \
    -Xswiftc -emit-extension-block-symbols
rm -rf "$graphs/torus"
python3 docs/filter-symbol-graphs.py "$graphs/all" "$graphs/torus"

article=Sources/Torus/Torus.docc/CancelSafety.md
options=(Sources/Torus/Torus.docc --additional-symbol-graph-dir "$graphs/torus"
         --fallback-display-name Torus --fallback-bundle-identifier org.torus.Torus)
case "$mode" in
    --preview)
        exec "$docc" preview "${options[@]}"
        ;;
    --coverage)
        options+=(--experimental-documentation-coverage --coverage-summary-level brief)
        ;;
    --update)
        # Drop the old tables (their links may be stale), convert, and write them again.
        marker="$(grep -n '^<!-- The tables below are generated' "$article" | cut -d: -f1)"
        sed -i "$((marker + 1)),\$d" "$article"
        rm -rf "$archive"
        "$docc" convert "${options[@]}" --output-path "$archive" --analyze --warnings-as-errors
        python3 docs/cancel-safety-table.py "$archive" "$graphs/torus" "$article"
        ;;
esac
rm -rf "$archive"
"$docc" convert "${options[@]}" --output-path "$archive" --transform-for-static-hosting \
    --analyze --warnings-as-errors
python3 docs/cancel-safety-table.py "$archive" "$graphs/torus" "$article" --check
