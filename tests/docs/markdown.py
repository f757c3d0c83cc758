"""Reading the documentation the way the doc tests need it: fenced blocks, the commands in them, links.

A fenced block's info string is its language, optionally followed by ``file=PATH`` (the tutorial's
"save this as PATH"; ``append`` adds it to the end of the file instead). In ``sh`` blocks every
line that is not blank or a comment is a command (a trailing ``\\`` continues it); a trailing
comment with ``→ exit N`` says the command is meant to exit with N (a failure shown on purpose).
A ``text output`` block shows what the last command of the ``sh`` block just before it prints
(see tests/docs/output.py for how the two are compared).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

FENCE = re.compile(r"^(?P<indent>\s*)```(?P<info>[^`]*)$")
EXPECTED_EXIT = re.compile(r"→ exit (\d+)")
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")


@dataclass(frozen=True)
class Block:
    """One fenced code block of a Markdown file."""

    path: Path
    line: int  # of the opening fence, 1-based
    language: str
    options: tuple[str, ...]
    text: str

    @property
    def target(self) -> str | None:
        """The file this block is saved as (``file=PATH``), if any."""
        return next((option.split("=", 1)[1] for option in self.options if option.startswith("file=")), None)

    @property
    def appends(self) -> bool:
        """Whether the block is added to the end of its ``file=`` rather than replacing it."""
        return "append" in self.options

    @property
    def shows_output(self) -> bool:
        """Whether the block is what a command prints (``text output``), checked against what it really prints."""
        return "output" in self.options


@dataclass(frozen=True)
class Command:
    """One command line of an ``sh`` block, where it is and how it should end."""

    path: Path
    line: int
    text: str
    expected_exit: int

    @property
    def where(self) -> str:
        """``docs/page.md:LINE``, for messages."""
        return f"{_shown(self.path)}:{self.line}"


def _shown(path: Path) -> str:
    parts = path.parts
    return "/".join(parts[parts.index("docs"):]) if "docs" in parts else path.name


def blocks(path: Path) -> list[Block]:
    """Every fenced block of a Markdown file, in order (indented ones too, e.g. inside a list)."""
    found: list[Block] = []
    lines = path.read_text(encoding="utf-8").splitlines()
    index = 0
    while index < len(lines):
        opening = FENCE.match(lines[index])
        if opening is None:
            index += 1
            continue
        indent = len(opening["indent"])
        info = opening["info"].split()
        body: list[str] = []
        end = index + 1
        while end < len(lines) and lines[end].strip() != "```":
            line = lines[end]
            body.append(line[min(indent, len(line) - len(line.lstrip())):])  # the fence's indentation, not more
            end += 1
        if end == len(lines):
            raise ValueError(f"{_shown(path)}:{index + 1}: a code block is never closed")
        found.append(Block(path, index + 1, info[0] if info else "", tuple(info[1:]), "\n".join(body) + "\n"))
        index = end + 1
    return found


def commands(block: Block) -> list[Command]:
    """The command lines of an ``sh`` block (continuation lines joined), with their expected exit codes."""
    found: list[Command] = []
    pending: list[str] = []
    start = 0
    for offset, raw in enumerate(block.text.splitlines(), start=1):
        if not pending:
            start = offset
            if not raw.strip() or raw.lstrip().startswith("#"):
                continue
        pending.append(raw)
        if raw.rstrip().endswith("\\"):
            continue
        text = "\n".join(pending)
        expected = EXPECTED_EXIT.search(text)
        found.append(Command(block.path, block.line + start, text, int(expected.group(1)) if expected else 0))
        pending = []
    return found


def documented_outputs(found: list[Block]) -> list[tuple[Block, Command]]:
    """Each ``output`` block with the command whose output it shows: the last command of the ``sh``
    block right before it (other blocks in between would leave the reader guessing which command)."""
    pairs: list[tuple[Block, Command]] = []
    for index, block in enumerate(found):
        if not block.shows_output:
            continue
        before = found[index - 1] if index else None
        shown = commands(before) if before is not None and before.language == "sh" else []
        if not shown:
            raise ValueError(f"{_shown(block.path)}:{block.line}: an output block must come right after the sh "
                             "block whose last command prints it")
        pairs.append((block, shown[-1]))
    return pairs


def links(path: Path) -> list[tuple[int, str]]:
    """Each Markdown link target of a file outside code blocks, with its line number."""
    found: list[tuple[int, str]] = []
    in_code = False
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if FENCE.match(line):
            in_code = not in_code
            continue
        if not in_code:
            found.extend((number, target) for target in LINK.findall(re.sub(r"`[^`]*`", "", line)))
    return found


def anchors(path: Path) -> set[str]:
    """The anchors GitHub gives the headings of a file (lower case, punctuation dropped, `-` for spaces, `-1` for repeats)."""
    found: set[str] = set()
    in_code = False
    for line in path.read_text(encoding="utf-8").splitlines():
        if FENCE.match(line):
            in_code = not in_code
            continue
        heading = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if in_code or heading is None:
            continue
        slug = re.sub(r"[^\w\- ]", "", heading.group(1).strip().lower()).replace(" ", "-")
        candidate, repeat = slug, 0
        while candidate in found:
            repeat += 1
            candidate = f"{slug}-{repeat}"
        found.add(candidate)
    return found


def section(path: Path, heading: str) -> list[Block]:
    """The blocks under a heading (``## Backup and restore``), up to the next heading of its level or above."""
    lines = path.read_text(encoding="utf-8").splitlines()
    level = len(heading) - len(heading.lstrip("#"))
    start = lines.index(heading) + 1
    end = next((number for number in range(start, len(lines))
                if re.match(rf"^#{{1,{level}}}\s", lines[number]) and not _inside_code(lines, number)), len(lines))
    return [block for block in blocks(path) if start < block.line <= end]


def _inside_code(lines: list[str], number: int) -> bool:
    return sum(1 for line in lines[:number] if FENCE.match(line)) % 2 == 1
