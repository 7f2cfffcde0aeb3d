"""The README's quickstart, as written, in a throwaway clone that nobody prepared.

`git clone` of this repository (its committed HEAD) into a temporary folder, then the README's
commands there: `make demo` shows a run within 30 s and its printed hints work when typed;
`make test`'s set-up (scripts/setup-test-services.sh, via `make test-services`) is idempotent,
brings a stopped RabbitMQ app back, and stops `make test` with exit 2 and a message before
pytest when a server is missing. `make test` itself is this suite, so it is not run again.

Cost: the clone's `make install` is a real venv and pip install (~15 s with pip's cache warm,
more on a cold cache); the demo ~10 s; the set-up script ~10 s (RabbitMQ's tools start slowly).
The RabbitMQ app is stopped for a few seconds and always started again.
"""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
#: What the demo prints for each finished run when its output is a pipe.
RUN_LINE = re.compile(r"^\d\d:\d\d:\d\d demo Sklep demo [a-z-]+: ok ")
#: The issue's bound: a newcomer sees the first run this soon after `make demo`.
FIRST_RUN_S = 30


def clean_env() -> dict[str, str]:
    """The machine's environment without this test run's settings (a newcomer has none)."""
    return {k: v for k, v in os.environ.items()
            if not k.startswith(("ILUO_SYNC_", "PYTEST_", "VIRTUAL_ENV"))}


def run(args: list[str], cwd: Path, timeout: float = 600,
        env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=cwd, env=env or clean_env(), capture_output=True, text=True,
                          timeout=timeout, check=False)


@pytest.fixture(scope="module")
def clone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh clone with `make install` done (the first step of both README commands)."""
    folder = tmp_path_factory.mktemp("quickstart") / "iluo-sync"
    cloned = run(["git", "clone", "--quiet", str(REPO), str(folder)], REPO)
    assert cloned.returncode == 0, cloned.stderr
    installed = run(["make", "install"], folder)
    assert installed.returncode == 0, installed.stdout + installed.stderr
    return folder


class Output:
    """A process's output lines as they come (a reader thread: no blocking reads in the test)."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._thread = threading.Thread(target=self._read, args=(proc,), daemon=True)
        self._thread.start()

    def _read(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def until(self, pattern: re.Pattern[str], deadline: float) -> str | None:
        """The first new line matching `pattern` before `deadline` (monotonic), else None."""
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self._queue.get(timeout=left)
            except queue.Empty:
                return None
            if line is None:
                return None
            self.lines.append(line)
            if pattern.search(line):
                return line
        return None

    def text(self) -> str:
        return "\n".join(self.lines)


@pytest.fixture
def demo(clone: Path) -> Iterator[tuple[subprocess.Popen[str], Output, float]]:
    """`make demo` in the clone, stopped with Ctrl-C's signal at the end."""
    started = time.monotonic()
    proc = subprocess.Popen(["make", "demo"], cwd=clone, env=clean_env(), text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True)
    try:
        yield proc, Output(proc), started
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGINT)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def hint_commands(lines: list[str]) -> list[str]:
    """The commands the first screen prints under "Try while it runs" (indented six spaces)."""
    start = next(i for i, line in enumerate(lines) if line.startswith("Try while it runs"))
    commands = []
    for line in lines[start + 1:]:
        if line.startswith("      "):
            commands.append(line.strip())
        elif not line.startswith("  - "):
            break
    return commands


def test_make_demo_shows_a_run_and_its_hints_work_as_printed(
    demo: tuple[subprocess.Popen[str], Output, float], clone: Path
) -> None:
    proc, output, started = demo
    first = output.until(RUN_LINE, started + FIRST_RUN_S)
    assert first is not None, f"no run within {FIRST_RUN_S} s:\n{output.text()}"

    commands = hint_commands(output.lines)
    assert len(commands) == 4, output.text()
    results = [run(["bash", "-c", command], clone, timeout=60) for command in commands]
    for command, result in zip(commands, results, strict=True):
        assert result.returncode == 0, f"{command}\n{result.stdout}{result.stderr}"
    set_stock, set_price, order, history = (result.stdout for result in results)
    assert "DEMO-0001: stock in MAG set to 7" in set_stock
    assert "DEMO-0002: price set to 49.99 gross" in set_price
    assert '"status":"processing"' in order  # the shop took the order
    assert re.search(r"^│ 20\d\d-", history, re.M), history  # a row: the first runs' events

    os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C, to make and the demo alike
    assert proc.wait(timeout=60) in (0, -signal.SIGINT)  # make itself dies of the signal
    # The demo stopped cleanly: its summary, then where its history stays.
    assert output.until(re.compile(r"iluo-sync events demo$"), time.monotonic() + 10)
    assert re.search(r"^\d+ runs: .*\d+ ok", output.text(), re.M), output.text()


def test_setup_is_idempotent_and_brings_up_a_stopped_rabbitmq(clone: Path) -> None:
    setup = ["make", "--no-print-directory", "test-services"]
    first = run(setup, clone)
    assert first.returncode == 0, first.stdout + first.stderr

    stopped = run(["rabbitmqctl", "-q", "stop_app"], clone, timeout=120)
    assert stopped.returncode == 0, stopped.stderr
    try:
        again = run(setup, clone)
    finally:  # whatever happened, the other tests get their broker back
        if run(["rabbitmq-diagnostics", "-q", "check_running"], clone, 120).returncode != 0:
            run(["rabbitmqctl", "-q", "start_app"], clone, timeout=120)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "starting the RabbitMQ app" in again.stdout
    assert "RabbitMQ and its management API are up" in again.stdout

    third = run(setup, clone)  # everything up now: nothing to start
    assert third.returncode == 0, third.stdout + third.stderr
    assert "starting" not in third.stdout, third.stdout
    assert third.stdout.count(" up") == 3, third.stdout


def test_make_test_stops_before_pytest_with_exit_2_when_a_server_is_missing(
    clone: Path, tmp_path: Path
) -> None:
    """A machine without PostgreSQL, imitated by a PATH that has everything but its tools."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("bash", "make", "id", "ls", "seq", "sleep", "sort", "tail", "dirname", "touch"):
        found = subprocess.run(["bash", "-c", f"command -v {tool}"], capture_output=True,
                               text=True, check=True).stdout.strip()
        (bin_dir / tool).symlink_to(found)
    env = {**clean_env(), "PATH": str(bin_dir)}
    result = run(["make", "test"], clone, env=env)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "PostgreSQL is not installed" in result.stderr
    assert "apt-get install postgresql" in result.stderr
    assert "the tests were not run" in result.stderr
    assert "test session starts" not in result.stdout  # pytest never started
