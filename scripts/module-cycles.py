#!/usr/bin/env python3
"""Import cycles between the top-level modules of Rust crates.

What `cargo modules dependencies --acyclic` checks, without building rust-analyzer: no module
of a crate may depend, directly or through others, on a module that depends on it.

Usage: scripts/module-cycles.py CRATE_SRC_DIR...   (e.g. services/portone-sandbox/src)

Each top-level module (`src/<name>.rs` or `src/<name>/`, lib.rs and main.rs excepted) is a node;
there is an edge a -> b for every `crate::b` path its files name, in `use` lines or inline,
`use crate::{b::x, c}` included, test modules included, comments ignored. Prints each crate's
edges and every cycle (a strongly connected component of more than one module); exits 1 if any.
"""
import os
import re
import sys


def modules(src):
    nodes = {}
    for entry in sorted(os.listdir(src)):
        path = os.path.join(src, entry)
        if entry.endswith(".rs") and entry not in ("lib.rs", "main.rs"):
            nodes.setdefault(entry[:-3], []).append(path)
        elif os.path.isdir(path):
            files = [os.path.join(d, f) for d, _, fs in os.walk(path) for f in fs if f.endswith(".rs")]
            nodes.setdefault(entry, []).extend(files)
    return nodes


def edges_of(nodes):
    path_re = re.compile(r"\bcrate::(\{[^}]*\}|\w+)")
    edges = {n: set() for n in nodes}
    for n, files in nodes.items():
        for f in files:
            with open(f, encoding="utf-8") as fh:
                text = re.sub(r"//[^\n]*", "", fh.read())
            for m in path_re.finditer(text):
                group = m.group(1)
                # In `crate::{a::x, b}` every name that starts a path is a module named.
                names = re.findall(r"(?:^|[{,]\s*)(\w+)", group[1:-1]) if group.startswith("{") else [group]
                edges[n].update(name for name in names if name in nodes and name != n)
    return edges


def cycles(edges):
    index, low, stack, on, found, counter = {}, {}, [], set(), [], [0]

    def strong(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(edges[v]):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(edges):
        if v not in index:
            strong(v)
    return found


def main(dirs):
    total = 0
    for src in dirs:
        edges = edges_of(modules(src))
        print(f"== {src}")
        for n in sorted(edges):
            print(f"  {n} -> {', '.join(sorted(edges[n])) or '-'}")
        found = cycles(edges)
        for c in found:
            print("  CYCLE: " + " ".join(c))
        print(f"  {len(found)} cycle(s)")
        total += len(found)
    return 1 if total else 0


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1:]))
