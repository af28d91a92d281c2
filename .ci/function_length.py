"""Fail when a function is longer than --max-lines (def line to last line, docstring included).

    python .ci/function_length.py [--max-lines 80] [--skip FILE] ... DIR_OR_FILE ...

ruff bounds statements, branches and complexity but has no rule for a function's length, and a
long function of data or chained calls passes all three: this bounds what a reader must hold.
"""

from __future__ import annotations

import argparse
import ast
import sys
from pathlib import Path


def long_functions(path: Path, max_lines: int) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            lines = node.end_lineno - first + 1
            if lines > max_lines:
                found.append(f"{path}:{node.lineno}: {node.name} has {lines} lines (> {max_lines})")
    return found


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("paths", nargs="+", type=Path)
    parser.add_argument("--max-lines", type=int, default=80)
    parser.add_argument("--skip", action="append", type=Path, default=[], help="a file left out")
    args = parser.parse_args()
    skip = {p.resolve() for p in args.skip}
    files = sorted(
        f
        for p in args.paths
        for f in ([p] if p.is_file() else p.rglob("*.py"))
        if f.resolve() not in skip
    )
    found = [line for f in files for line in long_functions(f, args.max_lines)]
    for line in found:
        print(line)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
