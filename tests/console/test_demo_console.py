"""`iluo-sync demo` starts the console too: the printed URL and login work, and the demo
tenant's page shows its runs (what a newcomer does after `make demo`)."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

ILUO_SYNC = str(Path(sys.executable).parent / "iluo-sync")
CONSOLE_LINE = re.compile(r"web console\): (http://127\.0\.0\.1:\d+/) — log in as (\S+) / (\S+) ")


def test_the_demo_prints_a_console_url_and_a_login_that_show_it_syncing(tmp_path: Path) -> None:
    env = {"PATH": str(Path(ILUO_SYNC).parent) + ":/usr/bin:/bin", "HOME": str(tmp_path),
           "ILUO_SYNC_BROKER_URL": "amqp://guest:guest@127.0.0.1:1/"}  # never used
    proc = subprocess.Popen([ILUO_SYNC, "demo", "--minutes", "3", "--console-port", "0"],
                            cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        assert proc.stdout is not None
        found = None
        for line in proc.stdout:
            found = CONSOLE_LINE.search(line)
            if found:
                break
        assert found, "no console line on the demo's first screen"
        url, user, password = found.groups()
        with httpx.Client(base_url=url, timeout=10) as client:
            login = client.get("/login")
            csrf = re.search(r'name="csrf" value="([^"]+)"', login.text)
            assert csrf
            answer = client.post("/login", data={"name": user, "password": password,
                                                 "csrf": csrf.group(1)})
            assert answer.status_code == 303
            deadline = time.monotonic() + 90
            page = ""
            while 'class="outcome ok"' not in page:
                assert time.monotonic() < deadline, "no ok run on the demo tenant's page"
                time.sleep(1)
                page = client.get("/tenants/1").text
            assert "Sklep demo" in page and "demo" in page
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
