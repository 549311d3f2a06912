#!/usr/bin/env python3
"""Clang's thread-safety analysis over overlapd's own sources.

Fields marked ABSL_GUARDED_BY(mu_) and functions marked
ABSL_EXCLUSIVE_LOCKS_REQUIRED are checked by clang (-Wthread-safety), which
reads absl::Mutex's annotations; GCC, which builds overlapd, ignores them.
This parses every product .cc file of the build with clang++ (no code is
generated) and fails on any warning of that analysis.

Usage: scripts/thread_safety.py BUILD_DIR [SUBSTRING...]
  (needs BUILD_DIR/compile_commands.json; SUBSTRINGs pick files by path)
Exit status: 0 clean, 1 findings, 77 clang++ missing (ctest: skipped).
"""
import concurrent.futures
import json
import os
import shlex
import shutil
import subprocess
import sys

# Flags GCC accepts and clang does not, dropped from the compile commands.
GCC_ONLY = ("-fno-semantic-interposition",)


def clang_command(entry, clang):
    args = shlex.split(entry["command"])[1:]
    out = []
    skip = False
    for a in args:
        if skip:
            skip = False
            continue
        if a == "-o":
            skip = True
            continue
        if a == "-c" or a in GCC_ONLY or a.startswith("-flto"):
            continue
        out.append(a)
    return [clang, "-fsyntax-only", "-Wno-everything", "-Wthread-safety",
            "-Werror=thread-safety"] + out


def main():
    build = sys.argv[1] if len(sys.argv) > 1 else "build"
    clang = shutil.which("clang++")
    if clang is None:
        print("clang++ not installed: thread-safety analysis skipped")
        return 77
    with open(os.path.join(build, "compile_commands.json")) as f:
        entries = json.load(f)
    root = os.path.dirname(os.path.abspath(__file__)).rsplit("/", 1)[0]
    product = [e for e in entries
               if e["file"].startswith(root + "/")
               and "/build" not in e["file"][len(root):]
               and not e["file"].endswith(("_test.cc", "_benchmark.cc"))
               and "/tests/" not in e["file"]
               and all(any(w in e["file"] for w in sys.argv[2:]) for _ in [0] if sys.argv[2:])]
    failed = []

    def check(entry):
        r = subprocess.run(clang_command(entry, clang), cwd=entry["directory"],
                           capture_output=True, text=True)
        return entry["file"], r.returncode, r.stderr

    with concurrent.futures.ThreadPoolExecutor(os.cpu_count() or 2) as pool:
        for path, rc, err in pool.map(check, product):
            if rc != 0:
                failed.append(path)
                sys.stderr.write(err)
    print(f"thread-safety analysis: {len(product)} files, {len(failed)} with findings")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
