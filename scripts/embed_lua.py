#!/usr/bin/env python3
"""Build step: assembles the Redis Lua scripts of src/store/lua and writes them as C (docs/scripts.md).

usage: embed_lua.py c OUT.c SCRIPT.lua ...   write OUT.c: one `sb_script_t sb_script_<name>` per
                                              SCRIPT, and the sb_scripts[] table in that order
       embed_lua.py show NAME|FILE           print one assembled script (what Redis runs)
       embed_lua.py dump DIR                 write every assembled script as DIR/<name>.lua
       embed_lua.py check                    only the checks below
Modes other than `c` read the scripts of --dir (default: src/store/lua next to this file).

A script is src/store/lua/<name>.lua; a library piece is src/store/lua/lib/<piece>.lua. Redis
scripts cannot call each other, so the pieces a script names in its header line
`-- uses: piece piece ...` are pasted in front of its body, in that order. A batched script says
`-- batch: K` (every call passes K keys: sb_script_t.batch_keys), and lib/batch.lua, the frame
that runs its calls, is pasted after its body with BATCH_KEYS written as K (and BATCH_FINISH as
whether the script defines `local function finish()`, which the frame calls after the last
call). A piece may name the
pieces it calls in a `-- uses:` line of its own; they are not added for it, but must come before
it in every script that uses it.

What Redis is sent is the code alone: whole-line comments and blank lines are left out (a comment
after code on the same line stays). Lua long strings and block comments (`[[`, `--[[`) are
refused, since a line-wise reading cannot tell their inside from code.

The checks, which fail the build: every `uses:` name is a piece; every piece is used by some
script (lib/batch.lua by a batched one); a piece's own prerequisites come before it; the `uses:`
and `batch:` lines stand in the header, before the first line of code, once each; a batched script
defines item(); and in `c` mode the scripts given are every .lua file of their directory.
"""
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_DIR = os.path.join(HERE, "..", "src", "store", "lua")
DIRECTIVE = re.compile(r"^--\s*(uses|batch)\s*:(.*)$")
LONG_BRACKET = re.compile(r"\[=*\[")
NAME = re.compile(r"^[a-z][a-z0-9_]*$")


class LuaError(Exception):
    pass


class Unit:
    """One .lua file: its code lines (comments and blank lines left out) and its header lines."""

    def __init__(self, path):
        self.path = path
        self.name = os.path.splitext(os.path.basename(path))[0]
        if not NAME.match(self.name):
            raise LuaError("%s: a script's file name is a lower-case C identifier" % path)
        with open(path, "rb") as f:
            raw = f.read()
        try:
            text = raw.decode("ascii")
        except UnicodeDecodeError:
            raise LuaError("%s: not ASCII" % path) from None
        if "\r" in text:
            raise LuaError("%s: carriage return in the file" % path)
        if text and not text.endswith("\n"):
            raise LuaError("%s: the last line has no newline" % path)
        self.uses, self.batch, code = None, None, []
        for n, line in enumerate(text.split("\n")[:-1], 1):
            where = "%s:%d" % (path, n)
            if LONG_BRACKET.search(line):
                raise LuaError("%s: long strings and block comments are not supported" % where)
            s = line.strip()
            m = DIRECTIVE.match(s)
            if m:
                if code:
                    raise LuaError("%s: `-- %s:` after the first line of code" % (where, m.group(1)))
                self._directive(where, m.group(1), m.group(2).split())
            elif s and not s.startswith("--"):
                code.append(line)
        if not code:
            raise LuaError("%s: no code" % path)
        self.code = "\n".join(code) + "\n"
        self.uses = self.uses or []

    def _directive(self, where, kind, words):
        if getattr(self, kind) is not None:
            raise LuaError("%s: a second `-- %s:` line" % (where, kind))
        if kind == "uses":
            for w in words:
                if not NAME.match(w):
                    raise LuaError("%s: `%s` is not a piece name" % (where, w))
            if len(set(words)) != len(words):
                raise LuaError("%s: a piece named twice" % where)
            self.uses = words
        else:
            if len(words) != 1 or not words[0].isdigit() or int(words[0]) < 1:
                raise LuaError("%s: `-- batch:` takes the number of keys of one call" % where)
            self.batch = int(words[0])


class Library:
    """The directory of scripts and its lib/ of pieces."""

    def __init__(self, lua_dir):
        self.dir = lua_dir
        libdir = os.path.join(lua_dir, "lib")
        self.pieces = {}
        for f in sorted(os.listdir(libdir)):
            if f.endswith(".lua"):
                u = Unit(os.path.join(libdir, f))
                if u.batch is not None:
                    raise LuaError("%s: a piece has no `-- batch:`" % u.path)
                self.pieces[u.name] = u
        if "batch" not in self.pieces or not re.search(r"\bBATCH_KEYS\b", self.pieces["batch"].code):
            raise LuaError("%s: lib/batch.lua, the batch frame with BATCH_KEYS, is missing" % lua_dir)

    def script_paths(self):
        return [os.path.join(self.dir, f) for f in sorted(os.listdir(self.dir)) if f.endswith(".lua")]

    def assemble(self, s):
        """The source Redis is sent for script unit s."""
        parts = []
        for i, p in enumerate(s.uses):
            if p == "batch":
                raise LuaError("%s: the batch frame comes with `-- batch: K`, not `-- uses:`" % s.path)
            if p not in self.pieces:
                raise LuaError("%s: uses `%s`, which is not in lib/" % (s.path, p))
            for q in self.pieces[p].uses:
                if q not in s.uses[:i]:
                    raise LuaError("%s: `%s` calls `%s`, which must come before it in `-- uses:`"
                                   % (s.path, p, q))
            parts.append(self.pieces[p].code)
        parts.append(s.code)
        if s.batch:
            if not re.search(r"^local function item\(", s.code, re.M):
                raise LuaError("%s: a batched script defines `local function item(k, a, n)`" % s.path)
            fin = "true" if re.search(r"^local function finish\(\)", s.code, re.M) else "false"
            frame = re.sub(r"\bBATCH_KEYS\b", str(s.batch), self.pieces["batch"].code)
            parts.append(re.sub(r"\bBATCH_FINISH\b", fin, frame))
        return "".join(parts)

    def build(self, paths):
        """[(unit, source)] for the script files in paths, after every check."""
        units = [Unit(p) for p in paths]
        names = [u.name for u in units]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise LuaError("scripts given twice: %s" % " ".join(dup))
        out = [(u, self.assemble(u)) for u in units]
        used = {p for u in units for p in u.uses}
        if any(u.batch for u in units):
            used.add("batch")
        unused = sorted(set(self.pieces) - used)
        if unused:
            raise LuaError("pieces in %s/lib used by no script: %s" % (self.dir, " ".join(unused)))
        return out


def c_string(src, indent):
    """src as adjacent C string literals, one per line of Lua."""
    lines = []
    for line in src.split("\n")[:-1]:
        esc = line.replace("\\", "\\\\").replace('"', '\\"').replace("??", "?\\?")
        lines.append('"%s\\n"' % esc)
    return ("\n" + " " * indent).join(lines)


def write_c(out, paths):
    dirs = {os.path.dirname(os.path.abspath(p)) for p in paths}
    if len(dirs) != 1:
        raise LuaError("the scripts given are not all in one directory")
    lib = Library(dirs.pop())
    missing = sorted(set(map(os.path.abspath, lib.script_paths())) - set(map(os.path.abspath, paths)))
    if missing:
        raise LuaError("not listed in the build (src/store/meson.build): %s"
                       % " ".join(os.path.basename(p) for p in missing))
    built = lib.build(paths)
    c = ["/* Generated by scripts/embed_lua.py from src/store/lua at build time; do not edit. */",
         '#include "switchboard/store.h"', ""]
    for u, src in built:
        pieces = " ".join("lib/%s.lua" % p for p in u.uses)
        c.append("/* %s.lua%s */" % (u.name, (" after " + pieces) if pieces else ""))
        c.append("sb_script_t sb_script_%s = {" % u.name)
        c.append('    .name = "%s",' % u.name)
        c.append("    .source = " + c_string(src, 14) + ",")
        c.append("    .batch_keys = %d," % (u.batch or 0))
        c.append("};")
        c.append("")
    c.append("sb_script_t *const sb_scripts[] = {")
    c += ["    &sb_script_%s," % u.name for u, _ in built]
    c.append("};")
    c.append("const size_t sb_scripts_count = SB_ARRAY_SIZE(sb_scripts);")
    with open(out, "w") as f:
        f.write("\n".join(c) + "\n")


def main(argv):
    args = argv[1:]
    lua_dir = DEFAULT_DIR
    if len(args) >= 2 and args[0] == "--dir":
        lua_dir, args = args[1], args[2:]
    if not args or args[0] not in ("c", "show", "dump", "check"):
        sys.stderr.write(__doc__)
        return 2
    mode, rest = args[0], args[1:]
    try:
        if mode == "c":
            if len(rest) < 2:
                raise LuaError("c: OUT.c SCRIPT.lua ...")
            write_c(rest[0], rest[1:])
            return 0
        lib = Library(lua_dir)
        built = lib.build(lib.script_paths())
        if mode == "show":
            if len(rest) != 1:
                raise LuaError("show: one script name or file")
            want = os.path.splitext(os.path.basename(rest[0]))[0]
            src = [s for u, s in built if u.name == want]
            if not src:
                raise LuaError("no script %s in %s" % (want, lua_dir))
            sys.stdout.write(src[0])
        elif mode == "dump":
            if len(rest) != 1:
                raise LuaError("dump: one output directory")
            os.makedirs(rest[0], exist_ok=True)
            for u, src in built:
                with open(os.path.join(rest[0], u.name + ".lua"), "w") as f:
                    f.write(src)
            with open(os.path.join(rest[0], "batch_keys.txt"), "w") as f:
                f.write("".join("%s %d\n" % (u.name, u.batch or 0) for u, _ in built))
        elif rest:
            raise LuaError("check takes no argument")
    except (LuaError, OSError) as e:
        sys.stderr.write("embed_lua.py: %s\n" % e)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
