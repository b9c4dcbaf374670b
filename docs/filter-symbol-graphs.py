#!/usr/bin/env python3
"""Copy Torus's symbol graphs, keeping only the symbols Torus declares, and check that each
public symbol declared in Sources/Torus has a doc comment of its own.

`@_exported import SystemPackage` (Sources/Torus/Exports.swift) makes the compiler put every
public symbol of swift-system into Torus's symbol graph too; DocC would then document them as
part of Torus (and report their doc comments' warnings). This keeps a symbol when it is declared
under Sources/Torus/, or when it is synthesized (no location) for a type that is kept.

A symbol without one is listed (file, line, symbol) and the exit status is 1: every public
symbol is documented (docs/architecture.md, "Documentation").

usage: filter-symbol-graphs.py SOURCE_DIR DEST_DIR
"""
import glob, json, os, sys

source, dest = sys.argv[1], sys.argv[2]
os.makedirs(dest, exist_ok=True)
documented, undocumented = 0, []
for path in sorted(glob.glob(os.path.join(source, "Torus.symbols.json"))
                   + glob.glob(os.path.join(source, "Torus@*.symbols.json"))):
    graph = json.load(open(path))
    declared = {s["identifier"]["precise"] for s in graph["symbols"]
                if "/Sources/Torus/" in s.get("location", {}).get("uri", "")}

    def kept(symbol):
        precise = symbol["identifier"]["precise"]
        if precise in declared:
            return True
        if "location" not in symbol and "::SYNTHESIZED::" in precise:
            return precise.split("::SYNTHESIZED::")[1] in declared
        return False

    symbols = [s for s in graph["symbols"] if kept(s)]
    ids = {s["identifier"]["precise"] for s in symbols}
    graph["symbols"] = symbols
    graph["relationships"] = [r for r in graph["relationships"] if r["source"] in ids]
    for s in symbols:
        uri = s.get("location", {}).get("uri", "")
        if "/Sources/Torus/" not in uri or s["kind"]["identifier"] == "swift.extension":
            continue
        comment = s.get("docComment")
        if comment and comment.get("uri", uri) == uri:
            documented += 1
        else:
            line = s["location"]["position"]["line"] + 1
            undocumented.append(f"Sources/Torus/{uri.split('/Sources/Torus/')[1]}:{line}: "
                                + ".".join(s["pathComponents"]))
    if symbols:
        with open(os.path.join(dest, os.path.basename(path)), "w") as out:
            json.dump(graph, out)

total = documented + len(undocumented)
print(f"Torus: {documented} of {total} public symbols documented")
if undocumented:
    print("public symbols without a doc comment:", *sorted(undocumented), sep="\n  ", file=sys.stderr)
    sys.exit(1)
