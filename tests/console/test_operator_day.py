"""End to end: an operator's day in the real console, in tmux, at 80x24 and 200x50, with NO_COLOR
and with 16 colours; every step asserts on what the operator reads on screen (issue 18).

The day: the pipelines and when they run next; a run launched with a parameter, which waits
for the warehouse (another process holds it) while the console is killed and reopened, then
watched to its end with the log at its tail; a second pipeline that fails, launched from `:`
with Tab, its whole error read in the run and in the step; its critical alert acknowledged;
its SQL broken and mended in the editor, a quit refused while the edit is unsaved, then saved;
the failed run found with `/` and resumed; a step rerun from `:` with Tab; the runs list walked
with j/k/g/G; and a read-only console that refuses, in words, what it hides.

NO_COLOR must tell trouble by attributes: what went wrong is bold and reversed (read back with
``capture-pane -e``). In 16 colours only the terminal's palette is used and trouble is red.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from conftest import copy_example_project
from tests.tmuxkit import FLOWDECK, Cell, Terminal, console_env

HOLD_WAREHOUSE = "import sys, time, duckdb; c = duckdb.connect(sys.argv[1]); print('holding', flush=True); time.sleep(600)"
LONG_TEXT = "twelve, and then some more words that make this error message longer than one line of an 80-column terminal"
NIGHTLY_PIPELINE = """\
description: Amounts from a feed; the transform fails on a text that is no number.
steps:
  - name: feed
    kind: transform
  - name: amounts
    kind: transform
    depends_on: [feed]
"""
WHOLE_ERROR = (f"Conversion Error: Could not convert string '{LONG_TEXT}' to INT32 when casting from source "
               "column text")
WAIT = 60.0  # generous: the machine is shared, and a wait returns as soon as the screen shows it

COLOUR_MODES = {
    "no-color": {"NO_COLOR": "1"},
    "16-colours": {"TERM": "screen", "TEXTUAL_COLOR_SYSTEM": "standard"},
}
RED_16 = {"31", "91", "41", "101"}
GREYS_256 = {0, 7, 8, 15, 16, 59, 102, 145, 188, 231, *range(232, 256)}


def _project(tmp_path: Path) -> Path:
    """The example project, plus a two-step pipeline whose second step fails fast with a long error;
    runs wait up to 5 minutes for a warehouse another process holds."""
    project = copy_example_project(tmp_path / "project")
    folder = project / "pipelines" / "nightly_amounts"
    folder.mkdir(parents=True)
    (folder / "pipeline.yaml").write_text(NIGHTLY_PIPELINE)
    (folder / "feed.sql").write_text(f"SELECT * FROM (VALUES ('12'), ('{LONG_TEXT}')) AS t(text)\n")
    (folder / "amounts.sql").write_text("SELECT CAST(text AS INTEGER) AS amount FROM feed\n")
    config = project / "flowdeck.yaml"
    config.write_text(config.read_text().replace("  lock_timeout: 60s", "  lock_timeout: 300s"))
    return project


def _flat(screen: str) -> str:
    """Screen text with box borders, toasts' edges and wrapping taken out, words separated by single spaces."""
    return " ".join(" ".join(line.strip(" │╭╮╰╯─▊▎").replace("▌", " ").split()) for line in screen.splitlines())


def _log_tail(screen: str) -> list[str]:
    """The lines the run's log box shows (toasts over its right side cut off), blank ones left out."""
    lines = screen.splitlines()
    start = next(index for index, line in enumerate(lines) if line.lstrip().startswith("log ·")) + 2
    shown: list[str] = []
    for line in lines[start:]:
        if line.startswith("╰"):
            break
        text = line.strip("│").split("▌")[0].strip()
        if text:
            shown.append(text)
    return shown


def _ends_with(screen: str, last: str) -> bool:
    """Whether the log box shows its tail: ``last`` among its last three lines (alerts may follow it)."""
    try:
        return any(last in line for line in _log_tail(screen)[-3:])
    except StopIteration:
        return False


def _wait(terminal: Terminal, condition: Callable[[str], bool], what: str) -> str:
    return terminal.wait_for(condition, WAIT, what)


def _flat_has(*texts: str) -> Callable[[str], bool]:
    return lambda screen: all(text in _flat(screen) for text in texts)


def _stands_out(cells: list[Cell], mode: str) -> bool:
    """What went wrong reads as such: bold and reversed with NO_COLOR, red (or reversed) in 16 colours."""
    marked = [cell for cell in cells if cell.char != " "]
    if mode == "no-color":
        return all(cell.bold and cell.reverse for cell in marked)
    return all((cell.fg is not None and cell.fg[1] in RED_16) or (cell.bg is not None and cell.bg[1] in RED_16)
               for cell in marked)


def _check_colours(terminal: Terminal, mode: str) -> None:
    """NO_COLOR: greys only, no hue. 16 colours: nothing but the terminal's 16-colour palette."""
    colours = [colour for line in terminal.styled() for cell in line for colour in (cell.fg, cell.bg) if colour]
    if mode == "no-color":
        hues = [c for c in colours if (c[0] == "5" and int(c[1]) not in GREYS_256)
                or (c[0] == "2" and len(set(c[1:])) > 1) or (c[0] == "16" and c[1][-1] not in "079")]
        assert not hues, hues[:5]
    else:
        assert colours and all(colour[0] == "16" for colour in colours), [c for c in colours if c[0] != "16"][:5]


def _open(tmux, size: tuple[int, int], project: Path, mode: str, *args: str) -> Terminal:  # type: ignore[no-untyped-def]
    """A new terminal (a tmux server of its own: a killed one's socket may linger) running the console."""
    terminal: Terminal = tmux(*size)
    theme = ["--theme", "ansi"] if mode == "16-colours" else []
    terminal.start([str(FLOWDECK), "console", *theme, *args], console_env(project, **COLOUR_MODES[mode]),
                   inherit=False)
    return terminal


@pytest.mark.slow
@pytest.mark.parametrize("mode", list(COLOUR_MODES))
@pytest.mark.parametrize("size", [(80, 24), (200, 50)], ids=["80x24", "200x50"])
def test_an_operators_day_in_the_console(tmp_path: Path, tmux, size: tuple[int, int], mode: str) -> None:  # type: ignore[no-untyped-def]
    project = _project(tmp_path)
    terminal = _open(tmux, size, project, mode)

    # Morning: the pipelines, how each is triggered, when the schedule fires next, and that no daemon would fire it.
    _wait(terminal, _flat_has("daily_sales", "ingest_orders", "nightly_amounts", "cron 0 6 * * *", "manual"),
          "the pipeline list")
    _wait(terminal, _flat_has("next 06:00 CET (Europe/Paris)", "⏸ no daemon (never started)"),
          "the next run of daily_sales and why nothing fires it")
    _check_colours(terminal, mode)

    # Launch daily_sales with a parameter; it waits for the warehouse another process holds.
    holder = subprocess.Popen([sys.executable, "-c", HOLD_WAREHOUSE, str(project / ".flowdeck" / "warehouse.duckdb")],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "holding"
        terminal.keys("r")
        _wait(terminal, _flat_has("▶ run daily_sales", "since", "2026-01-01"), "the parameter dialog, with the default")
        terminal.keys("C-u")
        terminal.type("2026-10-15")
        _wait(terminal, _flat_has("2026-10-15"), "the typed parameter")
        terminal.keys("Enter")
        _wait(terminal, _flat_has("▶ running · daily_sales", "params since=2026-10-15", "waiting for the warehouse"),
              "the run waiting for the warehouse, its parameter shown")

        # The console dies (an SSH hang-up); the run goes on. Reopen and find it.
        terminal.kill()
        terminal = _open(tmux, size, project, mode)
        row = _wait(terminal, lambda s: any("daily_sales" in line and "▶ running" in line for line in s.splitlines()),
                    "daily_sales still running in the reopened console")
        terminal.keys("2")
        _wait(terminal, lambda s: "all runs — 1 shown" in s and "▶ running" in s, "the running run in the run list")
        terminal.keys("Enter")
        _wait(terminal, _flat_has("▶ running · daily_sales", "params since=2026-10-15"), "the run, reopened")
        holder.kill()  # the warehouse is free: the run goes on to its end, watched
        row = _wait(terminal, lambda s: "✓ succeeded · daily_sales · 8/8 steps" in s and _ends_with(s, "run succeeded")
                    and "export_daily_sales" in s, "the run to succeed, the log at its tail")
        assert "params since=2026-10-15" in _flat(row)
    finally:
        holder.kill()
        holder.wait()

    # nightly_amounts, launched from `:` with Tab, fails; its whole error reads in the run view.
    terminal.keys(":")
    _wait(terminal, lambda s: "Tab completes" in s, "the command line")
    terminal.type("run n")
    terminal.keys("Tab")
    _wait(terminal, lambda s: "run nightly_amounts" in s, "the pipeline name completed")
    terminal.keys("Enter")
    failed = _wait(terminal, lambda s: "✗ failed · nightly_amounts" in s and _ends_with(s, "run failed")
                   and WHOLE_ERROR in _flat(s), "the run to fail, its whole error and the log's end shown")
    assert "hint: a value does not fit its column type" in _flat(failed)
    if mode == "no-color":
        error = terminal.cells_of(next(line for line in failed.splitlines() if "Conversion Error" in line).strip()[:30])
        assert all(cell.bold for cell in error if cell.char != " "), error
    assert _stands_out(terminal.cells_of("✗ failed"), mode), terminal.cells_of("✗ failed")
    _check_colours(terminal, mode)
    terminal.keys("C-l")  # the toasts go

    # The failed step, opened: its whole error, the SQL it ran.
    terminal.keys("j", "Enter")
    _wait(terminal, _flat_has("✗ failed · amounts · transform · nightly_amounts", WHOLE_ERROR,
                              "SELECT CAST(text AS INTEGER) AS amount FROM feed"), "the failed step's view")

    # Its alert: critical, new; acknowledged.
    terminal.keys("3")
    alerts = _wait(terminal, lambda s: any("nightly_amounts" in line and "‼ critical" in line and "! new" in line
                                           for line in s.splitlines()), "the critical alert, new")
    assert "2 new" in alerts  # and daily_sales's warned check
    terminal.keys("j")  # off the cursor row, whose own colours would hide the severity's
    _wait(terminal, lambda s: terminal.cells_of("‼ critical")[0].bg != terminal.cells_of("! warning")[0].bg,
          "the cursor to move to the warning")
    assert _stands_out(terminal.cells_of("‼ critical"), mode), terminal.cells_of("‼ critical")
    _check_colours(terminal, mode)
    terminal.keys("k", "a")
    _wait(terminal, lambda s: "1 new" in s and any("nightly_amounts" in line and "✓ acked" in line
                                                  for line in s.splitlines()), "the alert acknowledged")

    # The pipelines show the failure; G goes to nightly_amounts, e opens its editor.
    terminal.keys("1")
    listed = _wait(terminal, lambda s: any("nightly_amounts" in line and "✗ failed" in line for line in s.splitlines()),
                   "nightly_amounts listed as failed")
    assert any("daily_sales" in line and "✓ succeeded" in line for line in listed.splitlines())
    assert _stands_out(terminal.cells_of("✗ failed"), mode), terminal.cells_of("✗ failed")
    terminal.keys("G")
    _wait(terminal, _flat_has("nightly_amounts — 2 steps"), "G to select the last pipeline")
    terminal.keys("e")
    _wait(terminal, _flat_has("Edit nightly_amounts", "pipeline.yaml", "amounts.sql", "✓ valid"), "the editor")
    terminal.keys("C-n")
    _wait(terminal, lambda s: "SELECT CAST(text AS INTEGER) AS amount FROM feed" in s, "amounts.sql")

    # Break the SQL: the editor says where; mend it with TRY_CAST.
    terminal.keys("Home")
    terminal.type("x")
    _wait(terminal, _flat_has("● modified", "✗ line 1, col 1: SQL syntax error", "xSELECT"), "the problem, placed")
    terminal.keys("BSpace", *["Right"] * len("SELECT "))
    terminal.type("TRY_")
    _wait(terminal, lambda s: "SELECT TRY_CAST(text AS INTEGER)" in s and "✓ valid" in s and "● modified" in s,
          "the mended SQL, valid and unsaved")

    # Quit with the edit unsaved, while typing (^q) and after Esc (q): the console asks, No keeps the edit.
    terminal.keys("C-q")
    _wait(terminal, _flat_has("Unsaved edits to amounts.sql.", "Discard them and quit?"), "the question before quitting")
    terminal.keys("n")
    _wait(terminal, lambda s: "Discard them" not in s and "typing · Esc: keys" in s and "SELECT TRY_CAST" in s,
          "the editor again, still typing")
    terminal.keys("Escape")
    _wait(terminal, lambda s: "keys: i type" in s, "the editor to say letters are commands now")
    terminal.keys("q")
    _wait(terminal, _flat_has("Unsaved edits to amounts.sql.", "Discard them and quit?"), "the question before quitting")
    terminal.keys("n")
    _wait(terminal, lambda s: "Discard them" not in s and "SELECT TRY_CAST" in s and "● modified" in s,
          "the editor again, the edit kept")
    terminal.keys("s")
    _wait(terminal, lambda s: "● modified" not in s and "saved" in s, "the file saved")
    assert (project / "pipelines" / "nightly_amounts" / "amounts.sql").read_text().startswith("SELECT TRY_CAST(")
    terminal.keys("Escape")
    _wait(terminal, lambda s: "PIPELINE" in s and "Edit nightly_amounts" not in s, "the pipeline list")

    # The failed run, found with `/`, resumed: the feed is reused, the mended step succeeds.
    terminal.keys("2")
    _wait(terminal, lambda s: "all runs — 2 shown" in s, "both runs")
    terminal.keys("/")
    terminal.type("failed")
    _wait(terminal, lambda s: "filter: status failed — 1 shown" in s and "daily_sales" not in s.split("RUN", 1)[-1],
          "the list narrowed to the failed run as typed")
    terminal.keys("Enter", "Enter")
    _wait(terminal, lambda s: "✗ failed · nightly_amounts" in s, "the failed run")
    terminal.keys("R")
    _wait(terminal, lambda s: "✓ succeeded · nightly_amounts · 2/2 steps · 1 reused" in s and "↺ reused" in s
          and _ends_with(s, "run succeeded"), "the resumed run to succeed")

    # Rerun from a step, from `:` with Tab completing the step of the run on screen.
    terminal.keys(":")
    _wait(terminal, lambda s: "Tab completes" in s, "the command line")
    terminal.type("rerun a")
    terminal.keys("Tab")
    _wait(terminal, lambda s: "rerun amounts" in s, "the step completed")
    terminal.keys("Enter")
    _wait(terminal, _flat_has("from step amounts", "Rerun (y)", "No (n)"), "the question before rerunning")
    terminal.keys("y")
    _wait(terminal, lambda s: "✓ succeeded · nightly_amounts · 1/1 steps" in s and _ends_with(s, "run succeeded"),
          "the rerun to succeed")

    # The runs list, walked with j/k/g/G (the filter cleared with Esc): Enter opens the run under the cursor.
    terminal.keys("2")
    _wait(terminal, lambda s: "filter: status failed" in s, "the runs list, still filtered")
    terminal.keys("Escape")
    _wait(terminal, lambda s: "all runs — 4 shown" in s, "every run")
    for moves, expected in ((["G"], "✓ succeeded · daily_sales · 8/8 steps"),
                            (["g", "j"], "✓ succeeded · nightly_amounts · 2/2 steps · 1 reused"),
                            (["G", "k"], "✗ failed · nightly_amounts"),
                            (["G", "g"], "✓ succeeded · nightly_amounts · 1/1 steps")):
        terminal.keys(*moves, "Enter")
        _wait(terminal, lambda s, expected=expected: expected in s, f"{moves} then Enter to open {expected!r}")
        terminal.keys("Escape")
        _wait(terminal, lambda s: "all runs — 4 shown" in s, "the runs list again")

    # The alert is resolved by the resume.
    terminal.keys("3")
    _wait(terminal, lambda s: any("nightly_amounts" in line and "✓ resolved" in line for line in s.splitlines()),
          "the alert resolved")

    # Evening: a read-only console hides what changes things and says so when asked.
    terminal.kill()
    terminal = _open(tmux, size, project, mode, "--read-only")
    screen = _wait(terminal, lambda s: "READ-ONLY" in s and "nightly_amounts" in s and "daily_sales — 8 steps" in s
                   and "Preview" in s.splitlines()[-1], "the read-only console, drawn")
    footer = screen.splitlines()[-1]
    assert "Preview" in footer and "Run" not in footer and "Edit" not in footer, footer
    terminal.keys("r")
    _wait(terminal, _flat_has("read-only console: run a pipeline is not allowed"), "the refusal, in words")
    terminal.keys(":")
    _wait(terminal, lambda s: "Tab completes" in s, "the command line")
    terminal.type("ru")
    terminal.keys("Tab")
    _wait(terminal, lambda s: s.splitlines()[-1].strip() == "runs", "Tab to complete runs, not the hidden run")
    terminal.type("failed")
    terminal.keys("Enter")
    _wait(terminal, lambda s: "filter: status failed — 1 shown" in s, "the failed runs")
