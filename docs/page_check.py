"""What the page generators of docs/ share: write the page, or with --check say it is out of date.

A developer tool, kept out of the installed package, like the generators that use it.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path


def write_or_check(target: Path, generate: Callable[[], str], argv: list[str] | None, *, script: str,
                   description: str) -> int:
    """Write ``generate()`` to ``target``; with ``--check`` in ``argv`` only compare, and exit 1 (naming
    ``script``, the generator to run) when the committed page differs."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--check", action="store_true", help=f"exit 1 when docs/{target.name} is out of date")
    arguments = parser.parse_args(argv)
    text = generate()
    if arguments.check:
        if not target.exists() or target.read_text(encoding="utf-8") != text:
            print(f"{target} is out of date: run python docs/{script}", file=sys.stderr)
            return 1
        return 0
    target.write_text(text, encoding="utf-8")
    return 0
