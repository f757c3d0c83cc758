"""Running the shell examples of a documentation page for real, in one bash process, in order.

The blocks of a page become one bash script: each command runs as written (after the test's
placeholder substitutions), its output goes to its own file, and its exit code is compared to
the one the page promises (0 unless the line says ``→ exit N``). The script stops at the first
command that ends otherwise, and the failure names the page and line. ``file=`` blocks are
written where they say, at their place in the sequence. What a command printed is then compared
with the ``text output`` block the page shows for it, if any (``output_mismatches``).

Two kinds of command cannot simply run to completion, and are handled here, in the open:

- ``flowdeck daemon`` runs until stopped: it is started in the background on a free port and
  must become ready (``flowdeck status --check``); after the script, it is stopped with SIGTERM
  and must stop cleanly.
- the commands of ``SKIPPED`` (a terminal UI, root and systemd, the test suite itself) are not
  run; each entry says why, and a test checks that every entry still matches a line of the docs.
"""

from __future__ import annotations

import atexit
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tests.docs.markdown import Block, Command, commands, documented_outputs
from tests.docs.output import mismatch

BIN = Path(sys.executable).parent
DAEMON = re.compile(r"^(?P<flowdeck>\S*flowdeck)(?P<global>(?:\s+--project\s+\S+)?)\s+daemon\b(?P<args>[^#\n]*)")


@dataclass(frozen=True)
class Skip:
    """A documented command the doc test does not run, and why."""

    page: str
    pattern: str
    reason: str

    def matches(self, command: Command) -> bool:
        return command.path.name == self.page and re.search(self.pattern, command.text) is not None


SKIPPED: tuple[Skip, ...] = (
    Skip("console.md", r"^flowdeck console --web\b", "serves browsers until Ctrl-C: tests/console/test_console_web.py "
         "drives it with a real Chromium"),
    Skip("console.md", r"^flowdeck console\b", "full-screen app: needs a terminal (tests/console drive it in tmux and Pilot)"),
    Skip("cli.md", r"^flowdeck console\b", "full-screen app: needs a terminal (tests/console drive it in tmux and Pilot)"),
    Skip("README.md", r"^\.venv/bin/flowdeck console\b", "full-screen app: needs a terminal (tests/console)"),
    Skip("tutorial.md", r"^flowdeck console\b", "full-screen app: needs a terminal (tests/console)"),
    Skip("README.md", r"^\.venv/bin/flowdeck new pipeline\s*(#|$)", "asks its questions on a terminal; "
         "new-pipeline.md's examples give the answers as flags"),
    Skip("README.md", r"^make (demo|test)\b", "sets up .venv and runs the suite itself; test_docs.py checks the Makefile targets"),
    Skip("daemon.md", r"^(sudo |systemctl )", "installs a systemd unit: needs root and systemd"),
    Skip("daemon.md", r"^curl .*/runs", "needs a token of daemon.http.tokens with a role, which the example project "
         "does not configure: tests/daemon/test_daemon_http_access.py posts runs to a real daemon"),
    Skip("operations.md", r"\bsudo |^systemctl |^journalctl ", "server administration: needs root and systemd"),
    Skip("operations.md", r"^python3 -m pip wheel ", "builds a wheel from a checkout of flowdeck itself (the test runs in a project)"),
    Skip("cli.md", r"systemctl restart", "restarts a systemd service: needs root and systemd"),
    Skip("cli.md", r"^flowdeck spark serve|--engine spark", "starts a Spark driver (Java, a minute): "
         "tests/spark/test_spark_serve.py runs it"),
    Skip("security.md", r"^sudo ", "sets up OS users and file modes on a server: "
         "tests/security/test_permission_layout.py does it with real users"),
    Skip("development.md", r"^make (setup|check)\b|^\.venv/bin/python -m pytest",
         "sets up a checkout of flowdeck, checks its code, or runs this very suite"),
)


@dataclass
class Outcome:
    """How one command of the script ended."""

    command: Command
    exit_code: int | None  # None: started, never ended (the script timed out)
    output: str


@dataclass
class Script:
    """The steps of a page (or of the tutorial) as one bash script, and what running it showed."""

    steps: list[tuple[Block, list[Command]]]
    start: Path
    env: dict[str, str]
    substitutions: Sequence[tuple[str, str | Callable[[re.Match[str]], str]]] = ()
    each_block_apart: bool = True
    skipped: list[tuple[Command, Skip]] = field(default_factory=list)
    daemons: list[int] = field(default_factory=list)
    finished: bool = False

    def substitute(self, text: str) -> str:
        """The text with the test's placeholders replaced (run ids, ports, hosts)."""
        for pattern, replacement in self.substitutions:
            text = re.sub(pattern, replacement, text)
        return text

    def render(self, scratch: Path) -> tuple[str, dict[int, Command]]:
        """The bash script, and which command each number stands for."""
        numbered: dict[int, Command] = {}
        lines = ["set -u", 'exec 3>>"$FD_RESULTS"', f"cd {shlex.quote(str(self.start))}"]
        for block, block_commands in self.steps:
            body: list[str] = []
            if block.target is not None:
                body.append(f"# {block.path.name}:{block.line}: file={block.target}")
                target = shlex.quote(block.target)
                body.append(f"mkdir -p \"$(dirname {target})\" && cat {'>>' if block.appends else '>'} {target} <<'__FD_FILE__'")
                body.append(self.substitute(block.text).rstrip("\n"))
                body.append("__FD_FILE__")
            for command in block_commands:
                skip = next((entry for entry in SKIPPED if entry.matches(command)), None)
                if skip is not None:
                    self.skipped.append((command, skip))
                    continue
                number = len(numbered) + 1
                numbered[number] = command
                body.extend(self._step(number, command, scratch))
            if self.each_block_apart and block.target is None:
                lines.append(f"( cd {shlex.quote(str(self.start))}")
                lines.extend(body)
                lines.append(") || exit $?")
            else:
                lines.extend(body)
        lines.append("printf 'done\\n' >&3")
        return "\n".join(lines) + "\n", numbered

    def _step(self, number: int, command: Command, scratch: Path) -> list[str]:
        out = shlex.quote(str(scratch / f"{number}.out"))
        text = self.substitute(command.text)
        daemon = DAEMON.match(text)
        if daemon is not None:
            # runs until stopped: start it on a free port, wait until it is ready, stop it after the script
            log = shlex.quote(str(scratch / f"{number}.daemon.log"))
            flowdeck = f"{daemon['flowdeck']}{daemon['global']}"
            text = (f"{flowdeck} daemon --port 0 {daemon['args'].strip()} >{log} 2>&1 &\n"
                    "printf 'daemon %s\\n' $! >&3\n"
                    f"for _ in $(seq 300); do {flowdeck} status --check >/dev/null 2>&1 && break; sleep 0.2; done\n"
                    f"{flowdeck} status --check")
        return [
            f"# {command.where}",
            f"printf 'start %s\\n' {number} >&3",
            "{",
            text,
            f"}} >{out} 2>&1 <\"$FD_STDIN\"",
            f"__fd_rc=$?; printf 'end %s %s\\n' {number} $__fd_rc >&3",
            f"[ $__fd_rc -eq {command.expected_exit} ] || exit 97",
        ]

    def run(self, scratch: Path, *, timeout: float = 600) -> list[Outcome]:
        """Run the script; return how each command that started ended."""
        scratch.mkdir(parents=True, exist_ok=True)
        script, numbered = self.render(scratch)
        (scratch / "script.sh").write_text(script)
        results = scratch / "results"
        stdin = scratch / "stdin"
        stdin.write_text("doc-test-secret-value\n")
        env = {**self.env, "FD_RESULTS": str(results), "FD_STDIN": str(stdin)}
        try:
            subprocess.run(["bash", str(scratch / "script.sh")], env=env, cwd=self.start, timeout=timeout,
                           stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            pass
        ended: dict[int, int | None] = {}
        for line in results.read_text().splitlines() if results.exists() else []:
            kind, *values = line.split()
            if kind == "start":
                ended[int(values[0])] = None
            elif kind == "end":
                ended[int(values[0])] = int(values[1])
            elif kind == "daemon":
                self.daemons.append(int(values[0]))
            elif kind == "done":
                self.finished = True
        outcomes = []
        for number, code in ended.items():
            out = scratch / f"{number}.out"
            outcomes.append(Outcome(numbered[number], code, out.read_text(errors="replace") if out.exists() else ""))
        return outcomes

    def stop_daemons(self, flowdeck: str, project: Path, timeout: float = 60) -> list[str]:
        """SIGTERM every daemon the script started; return what went wrong stopping them."""
        problems = []
        for pid in self.daemons:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                problems.append(f"the daemon (pid {pid}) had already exited")
                continue
            deadline = time.monotonic() + timeout
            while _alive(pid) and time.monotonic() < deadline:
                time.sleep(0.1)
            if _alive(pid):
                os.kill(pid, signal.SIGUSR1)  # where each of its threads waits, into its log, before it goes
                time.sleep(1.0)
                os.kill(pid, signal.SIGKILL)
                problems.append(f"the daemon (pid {pid}) did not stop within {timeout:.0f}s of SIGTERM; "
                                f"the end of its log:\n{_log_tail(project)}")
        if self.daemons:
            status = subprocess.run([flowdeck, "--project", str(project), "status", "--json"], env=self.env,
                                    capture_output=True, text=True, timeout=60)
            daemon = json.loads(status.stdout)["daemon"] if status.stdout.strip() else {}
            if daemon.get("running") or not daemon.get("stopped_at"):
                problems.append(f"after SIGTERM the daemon is not recorded as stopped cleanly: {daemon}")
        return problems


def _log_tail(project: Path, lines: int = 80) -> str:
    log_file = project / ".flowdeck" / "logs" / "daemon.log"
    return "\n".join(log_file.read_text(errors="replace").splitlines()[-lines:]) if log_file.exists() else "(no log)"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie (exited, not yet reaped by init) counts as gone
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"
    except (FileNotFoundError, IndexError):
        return False


def page_steps(blocks: Sequence[Block]) -> list[tuple[Block, list[Command]]]:
    """The blocks a script runs: ``sh`` blocks (their commands) and ``file=`` blocks, in page order."""
    return [(block, commands(block) if block.language == "sh" else []) for block in blocks
            if block.language == "sh" or block.target is not None]


def failures(outcomes: Sequence[Outcome]) -> list[str]:
    """A message per command that did not end as the page says it does."""
    messages = []
    for outcome in outcomes:
        command = outcome.command
        if outcome.exit_code == command.expected_exit:
            continue
        ended = "did not finish in time" if outcome.exit_code is None else f"exited {outcome.exit_code}"
        tail = "\n".join(outcome.output.splitlines()[-25:])
        messages.append(f"{command.where}: `{command.text}` {ended} (the page expects {command.expected_exit})\n{tail}")
    return messages


def output_mismatches(found: Sequence[Block], outcomes: Sequence[Outcome], seen_as: dict[str, str]) -> list[str]:
    """A message per ``text output`` block that is not what its command printed (stdout and stderr,
    as on a terminal), or whose command the script did not run."""
    printed = {outcome.command: outcome.output for outcome in outcomes if outcome.exit_code is not None}
    messages = []
    for block, command in documented_outputs(list(found)):
        if command not in printed:
            messages.append(f"{block.path.name}:{block.line}: shows the output of `{command.text}` "
                            f"({command.where}), which did not run to its end")
            continue
        diff = mismatch(block.text, printed[command], seen_as)
        if diff is not None:
            messages.append(f"{block.path.name}:{block.line}: the output of `{command.text}` ({command.where}) "
                            f"is not what the page shows:\n{diff}")
    return messages


def doc_env(home: Path, **extra: str) -> dict[str, str]:
    """The environment the examples run in: this flowdeck first on PATH, a private HOME and runtime folder, no colour,
    no keyring."""
    scrubbed = ("NO_COLOR", "FORCE_COLOR", "CLICOLOR_FORCE", "TERM", "COLUMNS", "LINES", "CREDENTIALS_DIRECTORY")
    env = {key: value for key, value in os.environ.items()
           if key not in scrubbed and not key.startswith("FLOWDECK_") and not key.startswith("PYTEST")}
    home.mkdir(parents=True, exist_ok=True)
    # a warm server a page starts (`flowdeck warm start`) is the page's, not the tester's: a runtime folder of its own,
    # short (a socket's path has at most 107 bytes; pytest's folders under xdist are longer)
    runtime = Path(tempfile.mkdtemp(prefix="fd-doc-"))
    atexit.register(shutil.rmtree, runtime, True)
    env.update(PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}", HOME=str(home), XDG_RUNTIME_DIR=str(runtime),
               PYTHON_KEYRING_BACKEND="keyring.backends.fail.Keyring")
    env.update(extra)
    return env
