"""docker-compose.yml, Kubernetes manifests and systemd units agree with the CLI and settings.

Docker cannot run on the test machines, so the files are checked the way the engine would read
them: every command must parse with the real `iluo-sync` command line, every variable must be a
setting, and the stop grace periods must cover the workers' shutdown timeout.
"""

from __future__ import annotations

import configparser
import re
import shlex
from pathlib import Path

import orjson
import pytest
import typer
import yaml

from app.cli import _load_commands, app
from shared.jobs import QUEUES
from shared.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
WORKER_SHUTDOWN_S = 600  # dramatiq's default --worker-shutdown-timeout, which we keep


def _parse_cli(args: list[str]) -> str:
    """Parse `args` with the real command line without running it; returns the command name."""
    _load_commands()
    group = typer.main.get_command(app)  # a click-style group (typer ships its own click)
    ctx = group.make_context("iluo-sync", list(args), resilient_parsing=False)
    name, cmd, rest = group.resolve_command(
        ctx, list(getattr(ctx, "_protected_args", [])) + ctx.args
    )
    assert cmd is not None, args
    if hasattr(cmd, "resolve_command"):  # a sub-group such as `tenant`
        sub_ctx = cmd.make_context(name or "", rest, parent=ctx)
        if not sub_ctx.args and not getattr(sub_ctx, "_protected_args", None):
            return str(name)  # a group that runs by itself (`console --host … --port …`)
        name, cmd, rest = cmd.resolve_command(
            sub_ctx, list(getattr(sub_ctx, "_protected_args", [])) + sub_ctx.args
        )
    cmd.make_context(name or "", rest, parent=ctx)  # raises on an unknown option or argument
    return str(name)


def _settings_env_names() -> set[str]:
    names = set()
    for field_name, field in Settings.model_fields.items():
        alias = field.validation_alias
        names.add(alias if isinstance(alias, str) else f"ILUO_SYNC_{field_name.upper()}")
    return names


def _seconds(text: str) -> int:
    total = 0
    for amount, unit in re.findall(r"(\d+)([hms])", text):
        total += int(amount) * {"h": 3600, "m": 60, "s": 1}[unit]
    return total


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_compose_services_and_commands(compose: dict) -> None:
    services = compose["services"]
    assert {"rabbitmq", "producer", "tick-worker", "worker"} <= set(services)
    assert "management" in services["rabbitmq"]["image"]
    assert "healthcheck" in services["rabbitmq"]
    ours = {n: s for n, s in services.items() if s.get("image") == "iluo-sync:latest"}
    assert {"producer", "tick-worker", "worker"} <= set(ours)
    commands = {}
    for name, svc in ours.items():
        command = svc["command"]
        if svc.get("entrypoint") == ["iluo-sync"]:
            command = ["iluo-sync", *command]
        assert command[0] == "iluo-sync", name
        commands[name] = (_parse_cli(command[1:]), command[1:])
        assert svc["depends_on"]["rabbitmq"]["condition"] == "service_healthy"
    assert commands["producer"][0] == "producer"
    console = services["console"]
    assert console["profiles"] == ["console"] and commands["console"][0] == "console"
    assert all(port.startswith("127.0.0.1:") for port in console["ports"])  # not exposed
    assert commands["tick-worker"][1][:3] == ["worker", "--queues", "ticks"]
    assert set(commands["worker"][1]) >= {"orders", "stock", "catalog"}
    for name in ("producer", "tick-worker", "worker"):
        assert ours[name]["restart"] == "unless-stopped"
    assert _seconds(services["worker"]["stop_grace_period"]) > WORKER_SHUTDOWN_S


def test_compose_environment_and_volumes(compose: dict) -> None:
    env = compose["services"]["worker"]["environment"]
    assert set(env) <= _settings_env_names()
    assert env["ILUO_SYNC_CONTROL_DB"].endswith("sqlite:////data/iluo-sync.db}")
    assert "control-data:/data" in compose["services"]["producer"]["volumes"]
    assert {"control-data", "rabbitmq-data"} <= set(compose["volumes"])
    policies = orjson.loads((ROOT / "deploy/rabbitmq/definitions.json").read_bytes())["policies"]
    for suffix in (".XQ", ".DQ", ""):  # every queue of ours, its delay and dead-letter queues
        for queue in QUEUES:
            assert any(re.fullmatch(p["pattern"], queue + suffix) for p in policies), queue + suffix


def test_kubernetes_manifests() -> None:
    docs = {}
    for path in sorted((ROOT / "deploy/kubernetes").glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            docs[(doc["kind"], doc["metadata"]["name"])] = doc
    deployments = {name: d for (kind, name), d in docs.items() if kind == "Deployment"}
    assert set(deployments) == {"iluo-sync-producer", "iluo-sync-tick-worker", "iluo-sync-worker",
                                "iluo-sync-console"}
    for dep in deployments.values():
        pod = dep["spec"]["template"]["spec"]
        [container] = pod["containers"]
        _parse_cli(container["args"])
        assert {"secretRef": {"name": "iluo-sync"}} in container["envFrom"]
        assert pod["securityContext"]["runAsNonRoot"] is True
    producer = deployments["iluo-sync-producer"]["spec"]
    assert producer["replicas"] == 1 and producer["strategy"]["type"] == "Recreate"
    worker_pod = deployments["iluo-sync-worker"]["spec"]["template"]["spec"]
    assert worker_pod["terminationGracePeriodSeconds"] > WORKER_SHUTDOWN_S
    scaled = docs[("ScaledObject", "iluo-sync-worker")]
    assert {t["metadata"]["queueName"] for t in scaled["spec"]["triggers"]} == {
        "orders",
        "stock",
        "catalog",
    }
    console = deployments["iluo-sync-console"]["spec"]["template"]["spec"]["containers"][0]
    assert _parse_cli(console["args"]) == "console"
    assert docs[("Service", "iluo-sync-console")]["spec"]["type"] == "ClusterIP"
    assert docs[("ConfigMap", "iluo-sync")]["data"]["ILUO_SYNC_CONSOLE_HTTPS"] == "1"
    secret = docs[("Secret", "iluo-sync")]
    assert set(secret["stringData"]) - {"RABBITMQ_HOST"} <= _settings_env_names()


def test_systemd_units() -> None:
    units = sorted((ROOT / "deploy/systemd").glob("*.service"))
    assert [u.name for u in units] == [
        "iluo-sync-producer.service", "iluo-sync-tick-worker.service", "iluo-sync-worker.service"]
    for unit in units:
        cfg = configparser.ConfigParser(interpolation=None)
        cfg.read_string(unit.read_text())
        service = cfg["Service"]
        argv = shlex.split(service["ExecStart"])
        assert argv[0].endswith("/iluo-sync")
        _parse_cli(argv[1:])
        assert service["Restart"] == "always"
    worker = configparser.ConfigParser(interpolation=None)
    worker.read_string((ROOT / "deploy/systemd/iluo-sync-worker.service").read_text())
    assert _seconds(worker["Service"]["TimeoutStopSec"].replace("min", "m")) > WORKER_SHUTDOWN_S
    env_example = (ROOT / "deploy/systemd/env.example").read_text()
    assert set(re.findall(r"^#?\s*([A-Z_]+)=", env_example, re.M)) <= _settings_env_names()


def test_dockerfile_runs_as_non_root_with_odbc_drivers() -> None:
    text = (ROOT / "deploy/Dockerfile").read_text()
    assert "msodbcsql18" in text and "tdsodbc" in text
    assert re.search(r"^USER (?!root)\w+", text, re.M)
    assert 'ENTRYPOINT ["iluo-sync"]' in text
