#!/usr/bin/env python3
"""tidy: reads Concord's source tree and fails on violations of its rules.

Modelled on TigerBeetle's tidy: a test over the tree rather than a linter run by hand.
Each violation is printed as `path:line: rule: message`; the last line counts them.

Rules (`--only` takes a comma-separated subset):
  purity     src/raft/ and include/concord/raft.h include only an allowlist of C headers
             (no stdio, libuv, pthread, protobuf, I/O or clock) and no other Concord module.
  format     every tracked .c/.h equals clang-format's output under .clang-format.
  width      no line is wider than .clang-format's ColumnLimit (a tab counts TabWidth).
  functions  a function over 70 lines (signature to closing brace) in src/, tools/ or
             bench/ must be listed in tools/tidy/long_functions.txt; a listed function
             that is no longer over 70 lines, or gone, must be removed from the list.
  header     every .c/.h opens with a `/* name: purpose` comment, and every .h has an
             include guard (#ifndef X / #define X) or #pragma once.
  todo       no TODO, XXX or FIXME without an issue number (`TODO(#12)`, `TODO issue 12`).
  whitespace no trailing spaces or tabs in tracked text sources.

Usage: tidy.py [--root DIR] [--only RULE,...] [--write-allowlist]
Exit status: 0 clean, 1 violations, 2 usage or environment error.
"""

import argparse
import concurrent.futures
import os
import re
import shutil
import subprocess
import sys

RULES = ["purity", "format", "width", "functions", "header", "todo", "whitespace"]

FUNCTION_LIMIT = 70
CLANG_FORMAT_MAJOR = "14"  # the version the tree is formatted with
ALLOWLIST = "tools/tidy/long_functions.txt"
# Where long functions are counted. tests/ and fuzz/ are left out: a test function is a
# script of steps read top to bottom, and splitting it to meet a limit hides the story.
FUNCTION_SCOPE = ("src/", "tools/", "bench/")

# The core's headers: what src/raft includes today, plus the other freestanding-style C
# headers that neither do I/O nor read a clock.
CORE_SYSTEM_HEADERS = {
    "assert.h", "inttypes.h", "limits.h", "stdalign.h", "stdarg.h", "stdbool.h",
    "stddef.h", "stdint.h", "stdlib.h", "string.h",
}
# Named reasons for the headers the core must never include (anything else off the
# allowlist is refused too, with a generic reason).
CORE_FORBIDDEN = [
    (re.compile(r"^stdio\.h$"), "stdio does I/O"),
    (re.compile(r"^uv\.h$|^uv/"), "libuv is the event loop, outside the core"),
    (re.compile(r"^pthread\.h$|^threads\.h$"), "the core has no threads"),
    (re.compile(r"^protobuf-c/|\.pb-c\.h$"), "protobuf encoding lives in src/proto"),
    (re.compile(r"^unistd\.h$|^fcntl\.h$|^sys/|^dirent\.h$|^poll\.h$"), "does I/O"),
    (re.compile(r"^time\.h$|^sys/time\.h$"), "reads a clock: time comes in as ticks"),
]
CORE_QUOTED = re.compile(r'^(raft/[A-Za-z0-9_./-]+\.h|concord/raft\.h)$')
INCLUDE = re.compile(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]')

HEADER_COMMENT = re.compile(r"^/\* [A-Za-z0-9_./-]+: \S")
TODO = re.compile(r"\b(TODO|XXX|FIXME)\b")
TODO_ISSUE = re.compile(r"\b(TODO|XXX|FIXME)\b\s*(\(#\d+\)|\(issue \d+\)|#\d+|issue \d+)")
WHITESPACE_FILES = re.compile(
    r"(\.(c|h|py|sh|md|proto|build|html)|(^|/)Makefile|(^|/)\.clang-format|(^|/)run)$")


class Tidy:
    def __init__(self, root):
        self.root = root
        self.violations = []  # (path, line, rule, message)

    def fail(self, path, line, rule, message):
        self.violations.append((path, line, rule, message))

    # ---- the tree -------------------------------------------------------------------

    def tracked(self):
        """Tracked files (git ls-files), or every file when the root is not a git tree;
        never anything under build*/ or .git/."""
        files = None
        if shutil.which("git"):
            top = subprocess.run(["git", "-C", self.root, "rev-parse", "--show-toplevel"],
                                 capture_output=True, text=True)
            if top.returncode == 0 and \
                    os.path.realpath(top.stdout.strip()) == os.path.realpath(self.root):
                r = subprocess.run(["git", "-C", self.root, "ls-files", "-z"],
                                   capture_output=True, text=True)
                if r.returncode == 0:
                    files = [f for f in r.stdout.split("\0") if f]
        if files is None:
            files = []
            for d, dirs, names in os.walk(self.root):
                rel = os.path.relpath(d, self.root)
                dirs[:] = sorted(x for x in dirs if not (rel == "." and
                                 (x.startswith("build") or x == ".git")))
                for n in names:
                    files.append(os.path.normpath(os.path.join(rel, n)))
        return sorted(f for f in files
                      if not f.split("/")[0].startswith("build") and not f.startswith(".git/")
                      and os.path.isfile(os.path.join(self.root, f)))

    def sources(self):
        """Tracked C sources, without generated ones (protobuf-c output)."""
        return [f for f in self.tracked() if f.endswith((".c", ".h"))
                and not f.endswith((".pb-c.c", ".pb-c.h"))]

    def read(self, path):
        with open(os.path.join(self.root, path), encoding="utf-8", errors="replace") as f:
            return f.read()

    def lines(self, path):
        return self.read(path).split("\n")

    def clang_format_style(self):
        """ColumnLimit and TabWidth from .clang-format (LLVM defaults 80 and 8)."""
        style = {"ColumnLimit": 80, "TabWidth": 8}
        path = os.path.join(self.root, ".clang-format")
        if os.path.exists(path):
            with open(path) as f:
                for line in f:
                    m = re.match(r"^\s*(ColumnLimit|TabWidth)\s*:\s*(\d+)", line)
                    if m:
                        style[m.group(1)] = int(m.group(2))
        return style

    # ---- a: core purity -------------------------------------------------------------

    def check_purity(self):
        core = [f for f in self.sources()
                if f.startswith("src/raft/") or f == "include/concord/raft.h"]
        for path in core:
            for n, line in enumerate(self.lines(path), 1):
                m = INCLUDE.match(line)
                if not m:
                    continue
                kind, name = m.group(1), m.group(2).strip()
                if kind == "<":
                    if name in CORE_SYSTEM_HEADERS:
                        continue
                    why = next((w for p, w in CORE_FORBIDDEN if p.search(name)),
                               "not on the core's header allowlist")
                    self.fail(path, n, "purity",
                              f"the pure core includes <{name}> ({why}); allowed: "
                              + ", ".join(sorted(CORE_SYSTEM_HEADERS)))
                elif not CORE_QUOTED.match(name) or name.endswith(".pb-c.h"):
                    self.fail(path, n, "purity",
                              f'the pure core includes "{name}": it may include only '
                              '"raft/..." and "concord/raft.h", no other Concord module')

    # ---- b: clang-format ------------------------------------------------------------

    def check_format(self):
        exe = shutil.which("clang-format")
        if not exe:
            print("tidy: clang-format not found (apt-get install clang-format)",
                  file=sys.stderr)
            sys.exit(2)
        if not os.path.exists(os.path.join(self.root, ".clang-format")):
            self.fail(".clang-format", 1, "format", "no .clang-format at the root")
            return
        version = subprocess.run([exe, "--version"], capture_output=True, text=True).stdout
        m = re.search(r"version (\d+)", version)
        if m and m.group(1) != CLANG_FORMAT_MAJOR:
            print(f"tidy: note: clang-format {m.group(1)}, but the tree is formatted with "
                  f"clang-format {CLANG_FORMAT_MAJOR}: other versions may disagree",
                  file=sys.stderr)

        # clang-format checks a batch of files per process (--dry-run --Werror names the
        # first differing line of each); the batches run in parallel.
        files = self.sources()
        workers = max(2, os.cpu_count() or 2)
        batches = [files[i::workers] for i in range(workers) if files[i::workers]]
        seen = re.compile(r"^(.+?):(\d+):(\d+): (?:error|warning): code should be "
                          r"clang-formatted")

        def one(batch):
            r = subprocess.run([exe, "--style=file", "--dry-run", "--Werror",
                                "--ferror-limit=1"] + batch,
                               capture_output=True, text=True, cwd=self.root)
            found = []
            for line in r.stderr.splitlines():
                m = seen.match(line)
                if m and m.group(1) in batch:
                    found.append((m.group(1), int(m.group(2)), int(m.group(3))))
            if r.returncode != 0 and not found:
                found.append((batch[0], 1, "clang-format failed: " + r.stderr.strip()[:300]))
            return found

        with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
            for found in pool.map(one, batches):
                for path, line, col in found:
                    if isinstance(col, str):
                        self.fail(path, line, "format", col)
                    else:
                        self.fail(path, line, "format", f"differs from clang-format (first at "
                                  f"column {col}); `make format` fixes it")

    # ---- c: line width --------------------------------------------------------------

    def check_width(self):
        style = self.clang_format_style()
        limit, tab = style["ColumnLimit"], style["TabWidth"]
        for path in self.sources():
            for n, line in enumerate(self.lines(path), 1):
                w = len(line.expandtabs(tab))
                if w > limit:
                    self.fail(path, n, "width",
                              f"line is {w} columns, over the ColumnLimit of {limit} "
                              f"(a tab is {tab})")

    # ---- d: long functions ----------------------------------------------------------

    @staticmethod
    def functions(lines):
        """Function definitions in Linux brace style: yields (name, first line, length),
        the body's `{` alone at column 0, the signature on the lines just above it (from
        the first line after a blank line, `;`, `}`, a comment or a directive), the end
        at the next `}` at column 0."""
        i = 0
        while i < len(lines):
            if lines[i].rstrip() != "{":
                i += 1
                continue
            start = i
            while start > 0:
                prev = lines[start - 1].rstrip()
                if (prev == "" or prev.endswith((";", "}", "*/", "{")) or
                        prev.startswith(("#", "//", "/*", " *"))):
                    break
                start -= 1
            sig = " ".join(x.strip() for x in lines[start:i])
            end = i + 1
            while end < len(lines) and not lines[end].startswith("}"):
                end += 1
            m = re.search(r"([A-Za-z_]\w*)\s*\(", sig)
            if start < i and m and "=" not in sig.split("(")[0]:
                yield m.group(1), start + 1, end - start + 1
            i = end + 1

    def long_functions(self):
        found = {}
        for path in self.sources():
            if not path.startswith(FUNCTION_SCOPE):
                continue
            for name, line, length in self.functions(self.lines(path)):
                if length > FUNCTION_LIMIT:
                    key = f"{path}:{name}"
                    if key not in found or found[key][1] < length:
                        found[key] = (line, length)
        return found

    def read_allowlist(self):
        path = os.path.join(self.root, ALLOWLIST)
        entries = []
        if os.path.exists(path):
            with open(path) as f:
                for n, line in enumerate(f, 1):
                    line = line.strip()
                    if line and not line.startswith("#"):
                        entries.append((n, line))
        return entries

    def check_functions(self):
        found = self.long_functions()
        entries = self.read_allowlist()
        listed = {e for _, e in entries}
        names = [e for _, e in entries]
        if names != sorted(names) or len(names) != len(listed):
            self.fail(ALLOWLIST, 1, "functions", "the allowlist must be sorted, one entry "
                      "a line, without duplicates (tidy.py --write-allowlist)")
        for key, (line, length) in sorted(found.items()):
            if key not in listed:
                path = key.rsplit(":", 1)[0]
                self.fail(path, line, "functions",
                          f"new function over {FUNCTION_LIMIT} lines: "
                          f"{key.rsplit(':', 1)[1]} is {length} lines; split it "
                          f"(the allowlist {ALLOWLIST} may only shrink)")
        for n, key in entries:
            if key not in found:
                self.fail(ALLOWLIST, n, "functions",
                          f"{key} is no longer over {FUNCTION_LIMIT} lines (or is gone): "
                          "remove it from the allowlist")

    def write_allowlist(self):
        found = self.long_functions()
        with open(os.path.join(self.root, ALLOWLIST), "w") as f:
            f.write("".join(k + "\n" for k in sorted(found)))
        print(f"tidy: wrote {len(found)} functions over {FUNCTION_LIMIT} lines to {ALLOWLIST}")

    # ---- e: cheap rules -------------------------------------------------------------

    def check_header(self):
        for path in self.sources():
            lines = self.lines(path)
            if not HEADER_COMMENT.match(lines[0]):
                self.fail(path, 1, "header",
                          "a source file opens with a `/* name: purpose */` comment")
            if path.endswith(".h"):
                text = "\n".join(lines)
                m = re.search(r"^#ifndef\s+(\w+)\s*\n#define\s+(\w+)", text, re.M)
                if not (m and m.group(1) == m.group(2)) and \
                        not re.search(r"^#pragma once", text, re.M):
                    self.fail(path, 1, "header",
                              "a header needs an include guard (#ifndef X / #define X)")

    def check_todo(self):
        for path in self.sources():
            for n, line in enumerate(self.lines(path), 1):
                m = TODO.search(line)
                if m and not TODO_ISSUE.search(line):
                    self.fail(path, n, "todo",
                              f"{m.group(1)} without an issue number: write "
                              f"{m.group(1)}(#N), or do it now")

    def check_whitespace(self):
        for path in self.tracked():
            if not WHITESPACE_FILES.search(path):
                continue
            for n, line in enumerate(self.lines(path), 1):
                if line != line.rstrip(" \t"):
                    self.fail(path, n, "whitespace", "trailing whitespace")


def main(argv):
    ap = argparse.ArgumentParser(prog="tidy.py", description="Concord's source-tree rules.")
    ap.add_argument("--root", default=None,
                    help="the tree to check (default: the repository holding tidy.py)")
    ap.add_argument("--only", default=None, help="comma-separated rules: " + ",".join(RULES))
    ap.add_argument("--write-allowlist", action="store_true",
                    help=f"write {ALLOWLIST} from the tree's functions over "
                    f"{FUNCTION_LIMIT} lines, and exit")
    try:
        args = ap.parse_args(argv)
    except SystemExit as e:
        return 0 if e.code == 0 else 2
    root = args.root or os.path.normpath(os.path.join(os.path.dirname(
        os.path.abspath(__file__)), "..", ".."))
    if not os.path.isdir(root):
        print(f"tidy: --root {root}: not a directory", file=sys.stderr)
        return 2
    rules = RULES
    if args.only:
        rules = [r.strip() for r in args.only.split(",") if r.strip()]
        unknown = [r for r in rules if r not in RULES]
        if unknown:
            print(f"tidy: unknown rule {', '.join(unknown)} (rules: {', '.join(RULES)})",
                  file=sys.stderr)
            return 2
    t = Tidy(root)
    if args.write_allowlist:
        t.write_allowlist()
        return 0
    for rule in rules:
        getattr(t, "check_" + rule)()
    for path, line, rule, message in sorted(t.violations):
        print(f"{path}:{line}: {rule}: {message}")
    counts = {}
    for v in t.violations:
        counts[v[2]] = counts.get(v[2], 0) + 1
    if t.violations:
        print(f"tidy: {len(t.violations)} violations ("
              + ", ".join(f"{r} {counts[r]}" for r in rules if r in counts) + ")")
        return 1
    print(f"tidy: clean ({', '.join(rules)})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
