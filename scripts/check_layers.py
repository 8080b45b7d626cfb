#!/usr/bin/env python3
"""Fails when an #include points up the layer order (docs/architecture.md, "Layers"):

    core <- store, http <- conv <- channels <- delivery <- api <- app

A layer may include its own headers and those of the layers below it; store and http, on the
same floor, do not include each other. Every public header belongs to exactly one
layer (HEADERS below): a new header must be added here, so the check cannot silently pass.
Usage: scripts/check_layers.py [repo dir]; prints each violation and exits 1, or prints a
one-line summary and exits 0."""

import os
import re
import sys

RANK = {"core": 0, "store": 1, "http": 1, "conv": 2, "channels": 3, "delivery": 4, "api": 5, "app": 6}

HEADERS = {
    "core": ["alloc.h", "buf.h", "clock.h", "common.h", "config.h", "crypto.h", "hash.h", "json.h", "log.h",
             "metrics.h", "text.h", "validate.h"],
    "store": ["store.h"],
    "http": ["client.h", "http.h", "parser.h", "peers.h", "router.h"],
    "conv": ["conv.h"],
    "channels": ["channels.h", "jwt.h", "platform.h"],
    "delivery": ["delivery.h", "jobs.h", "outcome.h"],
    "api": ["api.h"],
    "app": ["app.h"],
}

INCLUDE = re.compile(r'^\s*#\s*include\s+"(?:switchboard/)?([^"]+)"', re.M)


def layer_of_header(name):
    for layer, names in HEADERS.items():
        if name in names:
            return layer
    return None


def main():
    root = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), ".."))
    problems, checked = [], 0
    units = []  # (path, layer)
    for layer in RANK:
        d = os.path.join(root, "src", layer)
        if os.path.isdir(d):
            for f in sorted(os.listdir(d)):
                if f.endswith((".c", ".h")):
                    units.append((os.path.join("src", layer, f), layer))
    inc_dir = os.path.join(root, "include", "switchboard")
    for f in sorted(os.listdir(inc_dir)):
        layer = layer_of_header(f)
        if layer is None:
            problems.append("include/switchboard/%s: no layer (add it to HEADERS in scripts/check_layers.py)" % f)
            continue
        units.append((os.path.join("include", "switchboard", f), layer))
    if os.path.isfile(os.path.join(root, "src", "main.c")):
        units.append((os.path.join("src", "main.c"), "app"))
    for path, layer in units:
        with open(os.path.join(root, path), encoding="utf-8") as fh:
            text = fh.read()
        for name in INCLUDE.findall(text):
            base = os.path.basename(name)
            target = layer_of_header(base)
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
