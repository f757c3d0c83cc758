"""Warm start (console/cli/warm/): a real server (`flowdeck warm start`), real `flowdeck` clients, real signals.

What a command does through the server must be what it does in a process of its own: its output, its exit
status, its folder and environment, Ctrl-C; and the server must serve no one but its own user, run nothing
that may ask on the terminal, and stop serving once flowdeck changed under it.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.cli.test_run_ctrl_c import assert_canceled_and_reported_after, foreground_signals, interrupt_a_run
from tests.cli.warmkit import GROUP, Warm, alive, wait_until
from tests.conftest import FLOWDECK, clean_env, copy_example_project, ledger_rows, run_flowdeck
from tests.rerun.helpers import step_running, write_pipeline, write_slow_pipeline

pytestmark = GROUP  # one worker runs these one after another (tests/cli/warmkit.py)


def _without_ids_and_times(text: str) -> list[str]:
    text = re.sub(r"\d{8}-\d{6}-[0-9a-f]{6}", "RUN", text)
    return sorted(re.sub(r"\d+\.\d+s", "Ts", line).rstrip() for line in text.splitlines())


def test_a_run_through_the_server_is_what_a_process_of_its_own_does(warm: Warm, tmp_path: Path) -> None:
    here, there = copy_example_project(tmp_path / "cold"), copy_example_project(tmp_path / "warm")
    cold = run_flowdeck("run", "daily_sales", project=here)
    client = subprocess.Popen([str(FLOWDECK), "--project", str(there), "run", "daily_sales"], env=warm.env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)
    stdout, stderr = client.communicate(timeout=120)
    assert (client.returncode, cold.returncode) == (0, 0), stderr
    assert _without_ids_and_times(stdout) == _without_ids_and_times(cold.stdout)
    assert _without_ids_and_times(stderr) == _without_ids_and_times(cold.stderr)
    # it ran in a process the server forked, not in the client
    owner = ledger_rows(there, "SELECT owner_pid FROM runs")[0]["owner_pid"]
    assert owner not in (None, client.pid)
    assert warm.status()["commands_served"] == 1  # type: ignore[index]
    tables = "SELECT step, status, rows_out FROM steps ORDER BY step"
    assert ledger_rows(there, tables) == ledger_rows(here, tables)


def test_exit_statuses_and_errors_come_back_to_the_client(warm: Warm, project: Path) -> None:
    unknown = warm.flowdeck("--project", str(project), "run", "nosuch")
    assert unknown.returncode == 2
    assert "no pipeline named `nosuch`" in unknown.stderr and "Traceback" not in unknown.stderr
    write_pipeline(project, "broken", "steps:\n  - name: b\n    kind: transform\n    sql: b.sql\n",
                   {"b.sql": "SELECT 1/0 AS x FROM (SELECT 1) WHERE error('no good') IS NULL\n"})
    failed = warm.flowdeck("--project", str(project), "run", "broken")
    assert failed.returncode == 1, failed
    assert "no good" in failed.stdout + failed.stderr
    assert warm.status()["commands_served"] == 2  # type: ignore[index]


def test_the_command_gets_the_clients_folder_and_environment(warm: Warm, project: Path, tmp_path: Path) -> None:
    from_folder = warm.flowdeck("validate", cwd=project)  # the project found from the client's folder
    assert from_folder.returncode == 0 and "daily_sales" in from_folder.stdout, from_folder
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    chosen = subprocess.run([str(FLOWDECK), "pipelines", "--json"], cwd=elsewhere, capture_output=True, text=True,
                            env={**warm.env, "FLOWDECK_PROJECT": str(project)}, timeout=60)
    assert chosen.returncode == 0 and "daily_sales" in chosen.stdout, chosen
    nowhere = warm.flowdeck("pipelines", cwd=elsewhere)
    assert nowhere.returncode == 2 and "flowdeck.yaml" in nowhere.stderr, nowhere
    assert warm.status()["commands_served"] == 3  # type: ignore[index]


def test_a_command_that_may_ask_is_run_by_the_client(warm: Warm, project: Path) -> None:
    # `secrets set` is not one of app.WARM_COMMANDS: the server's fork hands it back and ends at once, and the
    # client itself waits for the value on its stdin (a fork still running it would be a command running)
    key = warm.flowdeck("secrets", "new-master-key").stdout.strip()
    client = subprocess.Popen([str(FLOWDECK), "--project", str(project), "secrets", "set", "HOOK_TOKEN"],
                              env={**warm.env, "FLOWDECK_MASTER_KEY": key}, stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert wait_until(lambda: warm.status()["commands_served"] == 2, 20)  # type: ignore[index]
    assert wait_until(lambda: warm.status()["commands_running"] == 0, 20)  # type: ignore[index]
    assert client.poll() is None  # still reading the value: in its own process
    _stdout, stderr = client.communicate("s3cret\n", timeout=60)
    assert client.returncode == 0, stderr
    listed = subprocess.run([str(FLOWDECK), "--project", str(project), "secrets", "list"], capture_output=True,
                            text=True, env={**warm.env, "FLOWDECK_MASTER_KEY": key}, timeout=60)
    assert "HOOK_TOKEN" in listed.stdout and "s3cret" not in listed.stdout, listed


def test_ctrl_c_cancels_the_run_as_in_a_process_of_its_own(warm: Warm, project: Path) -> None:
    client, stdout, stderr = interrupt_a_run(project, warm.env)
    assert_canceled_and_reported_after(project, client, stdout, stderr)
    assert ledger_rows(project, "SELECT owner_pid FROM runs")[0]["owner_pid"] != client.pid  # the server's fork ran it


def ignoring_ctrl_c() -> None:
    """A command started as a shell's background job is: a hangup heard, Ctrl-C ignored."""
    foreground_signals()
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def test_a_command_started_ignoring_ctrl_c_ignores_it_through_the_server(warm: Warm, project: Path) -> None:
    write_slow_pipeline(project)
    client = subprocess.Popen([str(FLOWDECK), "--project", str(project), "run", "slow"], env=warm.env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True,
                              preexec_fn=ignoring_ctrl_c)
    assert wait_until(lambda: step_running(project, "slow"), 60)
    client.send_signal(signal.SIGINT)
    assert not wait_until(lambda: client.poll() is not None, 3)  # neither the client nor the command heard it
    assert step_running(project, "slow")
    client.kill()
    client.communicate(timeout=30)
    assert wait_until(lambda: warm.status()["commands_running"] == 0, 20)  # type: ignore[index]


def test_a_client_killed_hangs_up_its_command(warm: Warm, project: Path) -> None:
    write_slow_pipeline(project)
    client = subprocess.Popen([str(FLOWDECK), "--project", str(project), "run", "slow"], env=warm.env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
                              preexec_fn=foreground_signals)
    assert wait_until(lambda: step_running(project, "slow"), 60)
    command = ledger_rows(project, "SELECT owner_pid FROM runs")[0]["owner_pid"]
    assert command != client.pid and alive(command)
    client.kill()  # SIGKILL: nothing of the client's runs to say goodbye; the server sees its end of the socket close
    client.wait()
    assert wait_until(lambda: not alive(command), 20), "the command outlived its client"
    assert wait_until(lambda: warm.status()["commands_running"] == 0, 10)  # type: ignore[index]
    assert warm.flowdeck("--project", str(project), "runs").returncode == 0  # the run is reaped as abandoned
    assert ledger_rows(project, "SELECT status FROM runs")[0]["status"] == "abandoned"


def test_another_user_gets_nothing_from_the_server(warm: Warm) -> None:
    path = warm.socket()
    for folder in (warm.folder.parent.parent, warm.folder.parent, warm.folder):
        os.chmod(folder, 0o711)  # even with every folder and the socket open to everyone, the server asks the kernel
    os.chmod(path, 0o777)
    probe = ("import socket, struct, json\n"
             f"s = socket.socket(socket.AF_UNIX); s.connect({str(path)!r}); s.settimeout(5)\n"
             "body = json.dumps({'kind': 'status'}).encode(); s.sendall(struct.pack('!I', len(body)) + body)\n"
             "print(repr(s.recv(100)))\n")
    python = shutil.which(f"python{sys.version_info.major}.{sys.version_info.minor}", path="/usr/bin:/usr/local/bin")
    assert python is not None, "a Python another user may run (the standard library is all the probe needs)"
    nobody = subprocess.run([python, "-c", probe], user=65534, group=65534, capture_output=True, text=True,
                            timeout=30, env={"PATH": "/usr/bin:/bin"}, cwd="/")
    assert nobody.returncode in (0, 1), nobody.stderr
    # closed without a byte: an empty read, or a reset as the probe's request arrives at a closed socket
    assert nobody.stdout.strip() == "b''" or "ConnectionResetError" in nobody.stderr or \
        "BrokenPipeError" in nobody.stderr, (nobody.stdout, nobody.stderr)
    os.chmod(warm.folder, 0o700)
    assert warm.status() is not None  # and it serves its own user as before


def test_a_client_trusts_no_socket_in_a_folder_others_may_enter(warm: Warm, project: Path) -> None:
    os.chmod(warm.folder, 0o755)
    result = warm.flowdeck("--project", str(project), "validate")
    assert result.returncode == 0, result
    os.chmod(warm.folder, 0o700)
    assert warm.status()["commands_served"] == 0  # type: ignore[index]  # the client ran it itself


def test_garbage_and_silence_on_the_socket_do_not_stop_the_server(warm: Warm, project: Path) -> None:
    quiet = [socket.socket(socket.AF_UNIX) for _ in range(3)]
    for connection in quiet:  # connected, never a word: each dropped after a second
        connection.connect(str(warm.socket()))
    with socket.socket(socket.AF_UNIX) as noisy:
        noisy.connect(str(warm.socket()))
        noisy.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")  # a length of 1.2 GB: refused, not read
        noisy.settimeout(10)
        assert noisy.recv(100) == b""
    result = warm.flowdeck("--project", str(project), "validate")
    assert result.returncode == 0, result
    for connection in quiet:
        connection.close()
    assert warm.status()["commands_served"] == 1  # type: ignore[index]


def test_a_server_stops_serving_once_flowdeck_changed_under_it(warm: Warm, project: Path) -> None:
    site_packages = next(Path(folder) for folder in sys.path if folder.endswith("site-packages"))
    later = time.time() + 5
    os.utime(site_packages, (later, later))  # what installing or upgrading a package does to the folder
    result = warm.flowdeck("--project", str(project), "validate")
    assert result.returncode == 0, result  # run by the client itself
    assert "flowdeck changed since its warm server started" in result.stderr
    assert wait_until(lambda: warm.status() is None, 10)


def test_one_server_for_two_starts(warm: Warm) -> None:
    again = warm.flowdeck("warm", "start")
    assert again.returncode == 0 and "runs already" in again.stdout, again
    assert len(list(warm.folder.glob("*.sock"))) == 1


def test_stop_lets_a_running_command_finish(warm: Warm, project: Path) -> None:
    write_slow_pipeline(project)
    client = subprocess.Popen([str(FLOWDECK), "--project", str(project), "run", "slow"], env=warm.env, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                              preexec_fn=foreground_signals)
    assert wait_until(lambda: step_running(project, "slow"), 60)
    stopped = warm.flowdeck("warm", "stop")
    assert "once its 1 running command(s) end" in stopped.stdout, stopped
    assert warm.status() is None  # takes no more commands: its socket is gone
    assert client.poll() is None  # and the run goes on
    client.send_signal(signal.SIGINT)
    _stdout, stderr = client.communicate(timeout=60)
    assert client.returncode == 1 and "canceling the run" in stderr, stderr  # its status still came back


def test_a_socket_path_too_long_for_the_kernel_goes_to_tmp(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from flowdeck.console.cli.warm.protocol import MAX_SOCKET_PATH, socket_path

    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    assert socket_path().startswith(f"{tmp_path}/flowdeck-warm/")
    deep = tmp_path / ("d" * 100)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(deep))
    assert socket_path().startswith(f"/tmp/flowdeck-warm-{os.getuid()}/") and len(socket_path()) <= MAX_SOCKET_PATH
    with socket.socket(socket.AF_UNIX) as too_long:  # what the kernel would have said of the first choice
        with pytest.raises(OSError, match="too long"):
            too_long.bind(str(deep / "flowdeck-warm" / "12345678.sock"))


def test_a_folder_someone_else_made_for_the_socket_is_refused_in_words(tmp_path: Path) -> None:
    runtime = tmp_path / "runtime"
    (runtime / "flowdeck-warm").mkdir(parents=True)
    os.chown(runtime / "flowdeck-warm", 65534, 65534)  # made first by another user, as anyone may under /tmp
    env = clean_env(XDG_RUNTIME_DIR=str(runtime))
    started = subprocess.run([str(FLOWDECK), "warm", "start"], env=env, capture_output=True, text=True, timeout=60)
    assert started.returncode == 2, started
    assert "is not a folder of this user's" in started.stderr and "Traceback" not in started.stderr
    assert not list((runtime / "flowdeck-warm").iterdir())  # nothing of ours went into it


def test_a_command_started_with_stdin_closed_runs_in_its_own_process(warm: Warm, project: Path) -> None:
    closed = subprocess.run(f"{FLOWDECK} --project {project} validate <&-", shell=True, env=warm.env,
                            capture_output=True, text=True, timeout=120)
    assert closed.returncode == 0 and "daily_sales" in closed.stdout, closed
    assert "Traceback" not in closed.stderr
    assert warm.status()["commands_served"] == 0  # type: ignore[index]  # no descriptor to pass: the client ran it
