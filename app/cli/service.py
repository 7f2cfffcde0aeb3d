"""`iluo-sync producer`, `iluo-sync worker`, `iluo-sync demo`: the service's processes."""

from __future__ import annotations

import importlib
import logging
import os
import sys
from pathlib import Path

import dramatiq
import typer
from rich.console import Console

from app.cli import app
from app.cli.common import user_errors
from app.demo.run import DemoOptions, run_demo
from producers.scheduler import run_clock
from shared.broker import prefetch_env
from shared.broker import setup as setup_broker
from shared.control.registry import Registry
from shared.errors import UserError
from shared.jobs import QUEUES, SETTINGS, TICKS
from shared.settings import Settings, get_settings
from shared.telemetry.metrics import MULTIPROC_ENV, prepare_multiprocess_dir, start_metrics

#: A worker's broker set-up (dramatiq calls it first), then the modules of every actor.
WORKER_BROKER = "workers.broker:setup"
ACTOR_MODULES = ("workers.actors", "producers.clock")
#: The clock's module; imported once the broker it declares its actors on exists.
CLOCK_MODULE = "producers.clock"
#: dramatiq's default, and what the deploy files' grace periods are sized for.
SHUTDOWN_TIMEOUT_S = 600
QUEUES_HELP = (
    f"Queues to consume (default: all). Any of: {', '.join(QUEUES)}. "
    "`ticks` implies `settings` (the tick group also re-reads settings)."
)
LOG_FORMAT = (
    "[%(asctime)s] [PID %(process)d] [%(threadName)s] [%(name)s] [%(levelname)s] %(message)s"
)


def _check_control_db() -> None:
    """Open (and migrate) the control DB once, before any child process races to do it."""
    Registry().close()


@app.command("producer")
@user_errors
def producer() -> None:
    """The clock: periodiq sends one `tick` a minute on the `ticks` queue (run one)."""
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)
    _check_control_db()
    setup_broker()  # a publisher's broker: the clock sends, it consumes nothing
    importlib.import_module(CLOCK_MODULE)  # declares the periodic tick on that broker
    start_metrics(get_settings().metrics_port, get_settings().metrics_addr)

    raise typer.Exit(run_clock(dramatiq.get_broker()))


def worker_queues(requested: list[str]) -> list[str]:
    """Validated queue names; the tick group (`ticks`) also takes the settings refreshes."""
    names: list[str] = []
    for item in requested:
        names += [q.strip() for q in item.replace(",", " ").split() if q.strip()]
    unknown = [q for q in names if q not in QUEUES]
    if unknown:
        raise UserError(f"unknown queue {unknown[0]!r} (queues: {', '.join(QUEUES)})")
    if TICKS in names and SETTINGS not in names:
        names.append(SETTINGS)
    return list(dict.fromkeys(names))


def tick_threads_warning(queues: list[str], threads: int) -> str | None:
    """A tick holds its thread for its minute (a pass on each slot): a one-thread tick group
    would leave the settings refreshes only the seconds between ticks."""
    if threads < 2 and (not queues or TICKS in queues):
        return ("warning: a tick holds its thread for its whole minute (a pass every 15 s), so "
                "with --threads 1 the settings refreshes wait behind it: use 2 or more")
    return None


def worker_argv(
    queues: list[str], processes: int, threads: int, shutdown_timeout_s: int,
    extra_modules: tuple[str, ...] = (),
) -> list[str]:
    """dramatiq's command line for a worker group over our broker and actors."""
    argv = [sys.executable, "-m", "dramatiq", WORKER_BROKER, *ACTOR_MODULES,
            *extra_modules, "--processes", str(processes), "--threads", str(threads),
            "--worker-shutdown-timeout", str(shutdown_timeout_s * 1000)]
    if queues:
        argv += ["--queues", *queues]
    return argv


def worker_env(threads: int) -> dict[str, str]:
    """dramatiq's environment: prefetch = threads and, with metrics on, the directory the
    group's processes share their samples in (set before any of them imports the client)."""
    env = {**os.environ, **prefetch_env(threads)}
    port = Settings().metrics_port
    if port:
        env[MULTIPROC_ENV] = prepare_multiprocess_dir(port, os.environ.get(MULTIPROC_ENV))
    return env


@app.command(
    "worker",
    context_settings={"allow_extra_args": True, "ignore_unknown_options": False},
)
@user_errors
def worker(
    ctx: typer.Context,
    queues: list[str] = typer.Option(
        None, "--queues", "-Q",
        help=QUEUES_HELP,
    ),
    processes: int = typer.Option(2, "--processes", "-p", min=1, help="Worker processes."),
    threads: int = typer.Option(
        4, "--threads", "-t", min=1, help="Threads per process (= prefetch)."
    ),
    shutdown_timeout: int = typer.Option(
        SHUTDOWN_TIMEOUT_S, "--shutdown-timeout", min=1,
        help="Seconds a stopping worker waits for its runs (they stop at the next item).",
    ),
) -> None:
    """A dramatiq worker group (exec'd, so signals reach dramatiq directly): SIGTERM lets each
    run stop after its current item, commit, release its lease and ack."""
    # `--queues orders stock catalog`: click takes the first, the rest arrive as extra args.
    requested = list(queues or []) + list(ctx.args)
    if ctx.args and not queues:
        raise UserError(f"unexpected argument {ctx.args[0]!r}")
    names = worker_queues(requested)
    if warning := tick_threads_warning(names, threads):
        typer.echo(warning, err=True)
    _check_control_db()
    argv = worker_argv(names, processes, threads, shutdown_timeout)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, argv, worker_env(threads))


@app.command("demo")
@user_errors
def demo(
    minutes: float = typer.Option(
        None, "--minutes", min=0.05,
        help="Stop by itself after this many minutes (default: Ctrl-C).",
    ),
    folder: Path = typer.Option(Path("demo"), "--dir", help="Where the demo's databases go."),
    interval: int = typer.Option(
        1, "--interval", min=1, help="Minutes between runs of each operation."
    ),
    threads: int = typer.Option(4, "--threads", min=1, max=32, help="Worker threads."),
    console_port: int = typer.Option(
        8080, "--console-port", min=0, max=65535,
        help="The web console's port on 127.0.0.1 (another free one when taken; 0: any)."),
    no_console: bool = typer.Option(False, "--no-console", help="No web console."),
) -> None:
    """Everything on this machine, nothing else needed: the whole service in one process.

    \b
    Its parts:
    - a WooCommerce sandbox shop on a free 127.0.0.1 port with 12 orders;
      a pretend customer places another every 40 s;
    - a stand-in ERP, DIR/erp.db (SQLite): 40 products, two warehouses and
      one shop integration, "Sklep demo", that runs every operation every
      INTERVAL minutes (product import stays off: it would fight the export);
    - the control database, DIR/control.db: the tenant "demo", its schedule;
    - the clock (a tick at once, then on every minute) and dramatiq workers
      (THREADS threads) on an in-process broker: the production actors,
      no RabbitMQ needed;
    - the web console on 127.0.0.1:CONSOLE_PORT, with a login made for
      this run (printed on the first screen);
    - a live table of runs (a line per run when output is not a terminal).

    \b
    The first screen prints commands to try while it runs, in another
    terminal: change a stock level or a price in the ERP (`iluo-sync erp
    set-stock` / `set-price`), place an order in the shop (a curl to
    /__sandbox/order), open the event history (`iluo-sync events demo` with
    ILUO_SYNC_CONTROL_DB set to the demo's control database). DIR starts
    afresh each time; its databases stay after the demo stops."""
    # Warnings only: INFO lines (set up by main) would scroll the first screen's hints away.
    logging.getLogger().setLevel(logging.WARNING)
    raise typer.Exit(run_demo(
        DemoOptions(folder=folder, minutes=minutes, interval=interval, threads=threads,
                    console_port=None if no_console else console_port), Console()
    ))
