#!/usr/bin/env python3
"""Copy Torus's symbol graphs, keeping only the symbols Torus declares, and check that each
public symbol declared in Sources/Torus has a doc comment of its own.

`@_exported import SystemPackage` (Sources/Torus/Exports.swift) makes the compiler put every
public symbol of swift-system into Torus's symbol graph too; DocC would then document them as
part of Torus (and report their doc comments' warnings). This keeps a symbol when it is declared
under Sources/Torus/ or Sources/TorusChannels/ (a module of Torus's own that Torus re-exports:
its symbols are part of Torus's API and documentation), or when it is synthesized (no location) for a type that is kept.

A symbol without one is listed (file, line, symbol) and the exit status is 1: every public
symbol is documented (docs/architecture.md, "Documentation").

usage: filter-symbol-graphs.py SOURCE_DIR DEST_DIR
"""
import glob, json, os, re, sys

# Where Torus's own public symbols are declared: the library and the module it re-exports.
OWN = re.compile(r"/(Sources/(?:Torus|TorusChannels)/.*)")

source, dest = sys.argv[1], sys.argv[2]
os.makedirs(dest, exist_ok=True)
documented, undocumented = 0, []
for path in sorted(glob.glob(os.path.join(source, "Torus.symbols.json"))
                   + glob.glob(os.path.join(source, "Torus@*.symbols.json"))):
    graph = json.load(open(path))
    declared = {s["identifier"]["precise"] for s in graph["symbols"]
                if OWN.search(s.get("location", {}).get("uri", ""))}

    def kept(symbol):
        precise = symbol["identifier"]["precise"]
        if precise in declared:
            return True
        if "location" not in symbol and "::SYNTHESIZED::" in precise:
            return precise.split("::SYNTHESIZED::")[1] in declared
        return False

    symbols = [s for s in graph["symbols"] if kept(s)]
    # A protocol's default implementation synthesized for a type that declares the same member
    # itself (AsyncIteratorProtocol's `next()` beside an iterator's own) would make DocC
    # disambiguate the page of the real one: the declared member wins.
    own_paths = {tuple(s["pathComponents"]) for s in symbols if "::SYNTHESIZED::" not in s["identifier"]["precise"]}
    symbols = [s for s in symbols
               if "::SYNTHESIZED::" not in s["identifier"]["precise"] or tuple(s["pathComponents"]) not in own_paths]
    # DocC takes a doc comment from another module for an inherited one and drops it (a
    # protocol requirement's text shows instead): TorusChannels' comments are Torus's own.
    for s in symbols:
        if s.get("docComment", {}).get("module") == "TorusChannels":
            s["docComment"]["module"] = "Torus"
    ids = {s["identifier"]["precise"] for s in symbols}
    graph["symbols"] = symbols
    graph["relationships"] = [r for r in graph["relationships"] if r["source"] in ids]
    for s in symbols:
        uri = s.get("location", {}).get("uri", "")
        if not OWN.search(uri) or s["kind"]["identifier"] == "swift.extension":
            continue
        comment = s.get("docComment")
        if comment and comment.get("uri", uri) == uri:
            documented += 1
        else:
            line = s["location"]["position"]["line"] + 1
            undocumented.append(f"{OWN.search(uri).group(1)}:{line}: "
                                + ".".join(s["pathComponents"]))
    if symbols:
        with open(os.path.join(dest, os.path.basename(path)), "w") as out:
            json.dump(graph, out)

total = documented + len(undocumented)
print(f"Torus: {documented} of {total} public symbols documented")
if undocumented:
    print("public symbols without a doc comment:", *sorted(undocumented), sep="\n  ", file=sys.stderr)
    sys.exit(1)
