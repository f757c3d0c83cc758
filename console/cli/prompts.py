"""Asking a person for answers on the terminal, or saying which flag to pass when there is nobody to ask.

A command that asks never waits on a pipe or a closed stdin: without a terminal it asks only
when told to (``--interactive``, answers read line by line from stdin) and otherwise stops
with an error naming the flag that gives the missing answer. Piped answers are treated as
typed ones: a wrong answer is explained and the next line is read as the answer again, and
stdin ending before every question is answered stops the command.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence

from flowdeck.engine.errors import FlowdeckError

Check = Callable[[str], "str | None"]  # an answer → why it is wrong, or None


def on_terminal() -> bool:
    """Whether stdin and stdout are a terminal a person types at."""
    return sys.stdin.isatty() and sys.stdout.isatty()


class MissingAnswer(FlowdeckError):
    """An answer is needed, and there is no terminal to ask it on."""


class Asker:
    """Asks questions: on a terminal or from piped lines (re-asking after a wrong answer), or not at all."""

    def __init__(self, *, interactive: bool | None = None) -> None:
        self.terminal = on_terminal()
        self.interactive = self.terminal if interactive is None else (interactive or self.terminal)

    def text(self, question: str, *, flag: str, default: str | None = None, check: Check | None = None,
             optional: bool = False) -> str:
        """One line of text; ``default`` on an empty answer; an empty answer is allowed only when ``optional``."""
        if not self.interactive:
            if default is not None or optional:
                return default or ""
            raise self.missing(question, flag)
        while True:
            answer = self._read(question, flag, default).strip()
            if not answer and default is not None:
                answer = default
            problem = None if (not answer and optional) else (
                "an answer is needed" if not answer else (check(answer) if check else None))
            if problem is None:
                return answer
            self._say(f"  ✗ {problem}")

    def choice(self, question: str, options: Sequence[tuple[str, str]], *, flag: str, default: str) -> str:
        """One of ``options`` (name, description), by number or by name; ``default`` on an empty answer."""
        names = [name for name, _ in options]
        if not self.interactive:
            return default
        self._say(question)
        width = max(len(name) for name in names)
        for number, (name, description) in enumerate(options, start=1):
            self._say(f"  {number:>2}. {name:<{width}}  {description}")

        def valid(answer: str) -> str | None:
            if answer in names or (answer.isdigit() and 1 <= int(answer) <= len(names)):
                return None
            return f"answer a number from 1 to {len(names)} or a name ({', '.join(names)})"

        answer = self.text("Choose", flag=flag, default=str(names.index(default) + 1), check=valid)
        return names[int(answer) - 1] if answer.isdigit() else answer

    def confirm(self, question: str, *, flag: str, default: bool = False) -> bool:
        """Yes or no."""
        if not self.interactive:
            raise self.missing(f"confirm: {question}", flag)

        def valid(answer: str) -> str | None:
            return None if answer.lower() in ("y", "yes", "n", "no") else "answer y or n"

        answer = self.text(f"{question} (y/n)", flag=flag, default="y" if default else "n", check=valid)
        return answer.lower() in ("y", "yes")

    def missing(self, question: str, flag: str) -> MissingAnswer:
        """The error for an answer nobody can give here."""
        return MissingAnswer(
            f"missing answer: {question} (no terminal to ask on)",
            hint=f"pass {flag}; or run on a terminal to be asked, or add --interactive to read answers from stdin",
        )

    def _read(self, question: str, flag: str, default: str | None) -> str:
        shown = f"{question} [{default}]: " if default else f"{question}: "
        sys.stdout.write(shown)
        sys.stdout.flush()
        line = sys.stdin.readline()
        if not line:  # end of input: nobody will answer
            sys.stdout.write("\n")
            raise MissingAnswer(f"missing answer: {question} (stdin ended)", hint=f"pass {flag}, or add a line for it")
        if not self.terminal:
            sys.stdout.write(line if line.endswith("\n") else line + "\n")  # a transcript that reads like a session
        return line.rstrip("\n")

    def say(self, text: str) -> None:
        """Tell the person something between questions (only when asking)."""
        if self.interactive:
            self._say(text)

    @staticmethod
    def _say(text: str) -> None:
        sys.stdout.write(text + "\n")
