#!/usr/bin/env python3
"""Fails when an #include points up the layer order (docs/architecture.md, "Layers"):

    core <- store, http <- conv <- channels <- delivery <- api <- app

A layer may include its own headers and those of the layers below it; store and http, on the
same floor, do not include each other. A layer's public headers stand in its own folder,
src/<layer>/include/switchboard/, so where a header stands is its layer (no table to keep).
Usage: scripts/check_layers.py [repo dir]; prints each violation and exits 1, or prints a
one-line summary and exits 0."""

import os
import re
import sys

RANK = {"core": 0, "store": 1, "http": 1, "conv": 2, "channels": 3, "delivery": 4, "api": 5, "app": 6}

INCLUDE = re.compile(r'^\s*#\s*include\s+"(?:switchboard/)?([^"]+)"', re.M)


def main():
    root = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), ".."))
    problems, checked = [], 0
    units = []  # (path, layer)
    headers = {}  # public header name -> its layer
    for layer in RANK:
        for sub in ("", os.path.join("include", "switchboard")):
            d = os.path.join(root, "src", layer, sub)
            if not os.path.isdir(d):
                continue
            for f in sorted(os.listdir(d)):
                if f.endswith((".c", ".h")):
                    units.append((os.path.join("src", layer, sub, f), layer))
                    if sub:
                        if f in headers:
                            problems.append("switchboard/%s stands in both %s and %s" % (f, headers[f], layer))
                        headers[f] = layer
    for d in sorted(os.listdir(os.path.join(root, "src"))):
        if os.path.isdir(os.path.join(root, "src", d)) and d not in RANK:
            problems.append("src/%s: no layer (add it to RANK in scripts/check_layers.py)" % d)
    if os.path.isfile(os.path.join(root, "src", "main.c")):
        units.append((os.path.join("src", "main.c"), "app"))
    for path, layer in units:
        with open(os.path.join(root, path), encoding="utf-8") as fh:
            text = fh.read()
        for name in INCLUDE.findall(text):
            base = os.path.basename(name)
            target = headers.get(base)
            if target is None:
                # a file-local header of the same folder (e.g. src/store/redis_conn.h)
                if os.path.isfile(os.path.join(root, os.path.dirname(path), name)):
                    continue
                problems.append("%s: includes %s, which belongs to no layer" % (path, name))
                continue
            checked += 1
            if target == layer:
                continue
            if RANK[target] > RANK[layer] or (RANK[target] == RANK[layer]):
                problems.append("%s (%s) includes %s (%s): it points %s" % (
                    path, layer, name, target, "up" if RANK[target] > RANK[layer] else "sideways"))
    for p in problems:
        print("layers: " + p)
    if problems:
        print("layers: %d include(s) break the layer order (docs/architecture.md)" % len(problems))
        return 1
    print("layers: %d includes of %d files follow the layer order" % (checked, len(units)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
