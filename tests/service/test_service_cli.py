"""`iluo-sync worker`, `producer` and `demo` on the command line."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from app.cli import _load_commands, app
from app.cli.service import tick_threads_warning, worker_argv, worker_env, worker_queues
from shared.errors import UserError
from tests.service.conftest import ILUO_SYNC, ROOT

_load_commands()


def test_worker_command_line() -> None:
    assert worker_queues(["orders", "stock", "catalog"]) == ["orders", "stock", "catalog"]
    assert worker_queues(["ticks"]) == ["ticks", "settings"]  # the tick group re-reads settings
    assert worker_queues(["orders,stock"]) == ["orders", "stock"]
    with pytest.raises(UserError, match="unknown queue 'order'"):
        worker_queues(["order"])
    argv = worker_argv(["ticks", "settings"], 1, 2, 600)
    assert argv[1:5] == ["-m", "dramatiq", "workers.broker:setup", "workers.actors"]
    assert argv[argv.index("--worker-shutdown-timeout") + 1] == "600000"
    assert argv[-3:] == ["--queues", "ticks", "settings"]
    assert worker_env(3)["dramatiq_queue_prefetch"] == "3"  # prefetch = threads


def test_a_one_thread_tick_group_is_warned_about() -> None:
    """A tick spends its minute passing on each slot; the refreshes need another thread."""
    assert "--threads 1" in (tick_threads_warning(["ticks", "settings"], 1) or "")
    assert "--threads 1" in (tick_threads_warning([], 1) or "")  # no queues: all of them
    assert tick_threads_warning(["ticks", "settings"], 2) is None
    assert tick_threads_warning(["orders"], 1) is None


def test_worker_refuses_unknown_queues_with_exit_2(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ILUO_SYNC_CONTROL_DB", f"sqlite:///{tmp_path / 'c.db'}")
    result = CliRunner().invoke(app, ["worker", "--queues", "orders", "stok"])
    assert result.exit_code == 2
    assert "unknown queue 'stok'" in result.output


def test_demo_runs_by_itself(tmp_path: Path) -> None:
    """`iluo-sync demo` on a fresh machine: no RabbitMQ, no servers, runs at once."""
    env = {"PATH": str(Path(ILUO_SYNC).parent) + ":/usr/bin:/bin", "HOME": str(tmp_path),
           "ILUO_SYNC_BROKER_URL": "amqp://guest:guest@127.0.0.1:1/"}  # never used
    done = subprocess.run([ILUO_SYNC, "demo", "--minutes", "0.1"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout
    for op in ("import-orders", "update-order-statuses", "export-products", "update-stock"):
        assert f"Sklep demo {op}: ok" in out, out
    assert "read 12 new 12" in out  # the shop's orders arrived in the ERP
    assert (tmp_path / "demo" / "control.db").exists() and (tmp_path / "demo" / "erp.db").exists()
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    assert ROOT.exists()
