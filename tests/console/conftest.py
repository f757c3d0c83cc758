"""Fixtures for console tests: a copy of the example project in a temporary folder, and Pilot helpers.

Everything nondeterministic is pinned: the clock the console shows times against, the time
zone, cursor blink and animations (in the snapshot tests), the ledger poll interval.
"""

from __future__ import annotations

import asyncio
import shutil
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import pytest

from flowdeck.engine.workspace import Workspace
from tests.conftest import copy_example_project

REPO = Path(__file__).resolve().parents[2]
FIXED_NOW = 1_795_000_000.0  # 2026-11-18 (UTC), a fixed "now" for screens that show times
SIZES = [(80, 24), (120, 40)]

SLOW_PIPELINE = """\
description: A deliberately slow pipeline (three heavy SQL steps) for console tests.
steps:
  - name: slow_one
    kind: transform
  - name: slow_two
    kind: transform
  - name: slow_three
    kind: transform
"""
SLOW_SQL = "SELECT sum(hash(i)) AS total, {n} AS step FROM range(0, {rows}) t(i)\n"


def add_slow_pipeline(project: Path, rows: int = 500_000_000) -> None:
    """A pipeline whose steps each take a couple of seconds, to watch and kill things mid-run."""
    folder = project / "pipelines" / "slow_sales"
    folder.mkdir(parents=True)
    (folder / "pipeline.yaml").write_text(SLOW_PIPELINE)
    for number, name in enumerate(("slow_one", "slow_two", "slow_three"), start=1):
        (folder / f"{name}.sql").write_text(SLOW_SQL.format(n=number, rows=rows))


@pytest.fixture
def project_dir(tmp_path: Path) -> Path:
    """A fresh copy of the example project."""
    return copy_example_project(tmp_path / "project")


@pytest.fixture
def workspace(project_dir: Path) -> Iterator[Workspace]:
    """A workspace on the copied project, closed after the test."""
    ws = Workspace.open(project_dir)
    yield ws
    ws.close()


@pytest.fixture(autouse=True)
def utc(monkeypatch: pytest.MonkeyPatch) -> None:
    """Times on screen in UTC, whatever the machine's zone."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()


def make_app(ws: Workspace, **options: object):  # type: ignore[no-untyped-def]
    """The console app as tests drive it: fast ledger polling, a fixed clock unless asked otherwise."""
    from flowdeck.console.tui.app import FlowdeckConsole

    options.setdefault("poll_interval", 0.1)
    return FlowdeckConsole(ws, **options)  # type: ignore[arg-type]


def drive(app: object, scenario: Callable[[object], Awaitable[None]], size: tuple[int, int] = (80, 24)) -> None:
    """Run ``scenario(pilot)`` against ``app`` headless at ``size``."""

    async def main() -> None:
        async with app.run_test(size=size) as pilot:  # type: ignore[attr-defined]
            await wait_for(pilot, lambda: started(app), what="the first screen's data and the first ledger poll")
            await scenario(pilot)

    asyncio.run(main())


def started(app: object) -> bool:
    """The console as an operator first sees it: its first screen loaded, the ledger read once,
    the footer's keys drawn.

    Scenarios start from here, as a person starts typing once the screen is drawn; a key sent
    while start-up workers are still answering tests a moment no one can aim for.
    """
    from flowdeck.console.tui.screens.base import ConsoleScreen

    screen = app.screen  # type: ignore[attr-defined]
    loader = screen._load_worker if isinstance(screen, ConsoleScreen) else None
    if app._cursor is None or loader is None or not loader.is_finished:  # type: ignore[attr-defined]
        return False
    return screen_text(app).splitlines()[-1].strip() != ""


async def wait_for(pilot: object, condition: Callable[[], object], timeout: float = 30.0, what: str = "") -> None:
    """Let the app run until ``condition()`` holds (fails the test after ``timeout`` seconds)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or condition}; {app_state(pilot.app)}")  # type: ignore[attr-defined]
        await pilot.pause(0.05)  # type: ignore[attr-defined]


def app_state(app: object) -> str:
    """What the app was doing, for a failed wait: its screens, its toasts, and any crash."""
    from flowdeck.console.tui.screens.dialogs import ErrorDialog

    def described(screen: object) -> str:
        text = f" ({screen.text})" if isinstance(screen, ErrorDialog) else ""
        return f"{type(screen).__name__}#{screen.id}{text}"  # type: ignore[attr-defined]

    stack = " > ".join(described(screen) for screen in app.screen_stack)  # type: ignore[attr-defined]
    error = getattr(app, "_exception", None)
    crashed = f"; the app crashed: {error!r}" if error is not None else ""
    return f"screens: {stack}; toasts: {notifications(app)}{crashed}"


def screen_text(app: object) -> str:
    """What the terminal shows right now, as plain text lines."""
    from rich.console import Console

    screen = app.screen  # type: ignore[attr-defined]
    width, height = app.size  # type: ignore[attr-defined]
    console = Console(width=width, height=height, record=True, color_system=None, legacy_windows=False,
                      file=open("/dev/null", "w"))  # noqa: SIM115 - closed with the console
    update = screen._compositor.render_update(full=True)
    console.print(update)
    return console.export_text()


def notifications(app: object) -> list[str]:
    """Titles and messages of the toasts raised so far (shown now or since gone)."""
    return [f"{title}: {message}" for title, message in app.toast_history]  # type: ignore[attr-defined]


def finished_run(ws: Workspace, pipeline: str = "daily_sales", params: dict[str, str] | None = None) -> str:
    """Run a pipeline to the end in this process (test setup, not the console) and return its id."""
    record, _ = ws.submit(pipeline, params or {})
    ws.execute(record.run_id)
    return record.run_id


BROKEN_PIPELINE = """\
description: A pipeline whose transform fails on bad data (a text that is no number).
steps:
  - name: amounts
    kind: transform
"""
BROKEN_SQL = "SELECT CAST(text AS INTEGER) AS amount FROM (VALUES ('12'), ('twelve, and then some more words "\
             "that make this error message longer than one line of an 80-column terminal')) AS t(text)\n"


def add_broken_pipeline(project: Path) -> None:
    """A pipeline that fails with DuckDB's Conversion Error, whose message is longer than a line."""
    folder = project / "pipelines" / "broken_sales"
    folder.mkdir(parents=True)
    (folder / "pipeline.yaml").write_text(BROKEN_PIPELINE)
    (folder / "amounts.sql").write_text(BROKEN_SQL)


@pytest.fixture
def tmux(tmp_path: Path) -> Iterator[Callable[..., object]]:
    """Make real terminals (tmux servers of this test's own) at a size; all are killed after the test."""
    from tests.tmuxkit import Terminal

    assert shutil.which("tmux"), "tmux is needed (make test installs it)"
    made: list[Terminal] = []

    def make(width: int = 80, height: int = 24) -> Terminal:
        terminal = Terminal(tmp_path / f"tmux-{len(made)}.sock", width, height)
        made.append(terminal)
        return terminal

    yield make
    for terminal in made:
        terminal.kill()


def cells_by_column(table: object) -> list[dict[str, str]]:
    """A DataTable's rows as {column key: text}: columns come and go with the width, keys stay."""
    keys = [str(key.value) for key in table.columns]  # type: ignore[attr-defined]
    return [dict(zip(keys, (str(cell) for cell in table.get_row_at(index))))  # type: ignore[attr-defined]
            for index in range(table.row_count)]  # type: ignore[attr-defined]
