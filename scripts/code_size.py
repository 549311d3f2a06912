#!/usr/bin/env python3
"""Product files over 600 lines and functions over 70 lines (tests and
benches aside), the limits of STYLE.md and the structure review.

    python3 scripts/code_size.py            # from the repository root

A function is a definition that starts at column 0 and ends at the next
line that is a lone '}' (the layout clang-format gives this tree); that
reads free functions and out-of-class member definitions, not bodies
written inside a class.
"""
import re
import subprocess
import sys

SKIP = re.compile(r'(_test\.|(^|/)tests?/|bench)')
DEF = re.compile(r'^[A-Za-z].*\(')


def main() -> int:
    files = subprocess.check_output(['git', 'ls-files', '*.cc', '*.h', '*.py']).decode().split()
    over = 0
    for path in files:
        if SKIP.search(path):
            continue
        lines = open(path, encoding='utf-8', errors='replace').read().split('\n')
        if len(lines) > 600:
            print(f'file {path}: {len(lines)} lines')
            over += 1
        if not path.endswith(('.cc', '.h')):
            continue
        i = 0
        while i < len(lines):
            line = lines[i]
            one_liner = '{' in line and line.rstrip().endswith('}')
            if DEF.match(line) and not one_liner and not line.endswith(';') and not line.startswith(
                    ('namespace', 'class', 'struct', 'enum', 'template', '#', 'using', 'static_assert')):
                j = i
                while j < len(lines) and lines[j] != '}':
                    j += 1
                if j - i > 70:
                    print(f'function {path}:{i + 1}: {j - i} lines: {line[:70]}')
                    over += 1
                i = j + 1
            else:
                i += 1
    print(f'{over} over the limits')
    return 0


if __name__ == '__main__':
    sys.exit(main())
