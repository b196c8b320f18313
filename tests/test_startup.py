"""Zero-config start (embedded PostgreSQL), restarts, and clear start-up errors."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

from service import embedded, migrate
from service.migrate import StartupError

from .pgw import ROOT, free_port, service_env


def _wait_ready(url: str, proc: subprocess.Popen[bytes], timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"service exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url + "/ready", timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise AssertionError("service did not become ready")


def _post(url: str, body: bytes) -> int:
    req = urllib.request.Request(url, data=body, method="POST", headers={"content-type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return resp.status


def _start(data_dir: Path, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = service_env(PGW_DATA_DIR=str(data_dir))
    out = log.open("ab")
    proc = subprocess.Popen([sys.executable, "-m", "service", "--host", "127.0.0.1", "--port", str(port)],
                            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    return proc, f"http://127.0.0.1:{port}"


def test_without_database_url_runs_its_own_postgres_and_keeps_data() -> None:
    base = Path(tempfile.mkdtemp(prefix="pgw-embedded-"))
    os.chmod(base, 0o755)  # the cluster runs as user postgres when we are root
    data_dir, log = base / "data", base / "service.log"
    try:
        proc, url = _start(data_dir, log)
        try:
            _wait_ready(url, proc)
            run_id = "wrun_01JEMBEDDED000000000000000"
            body = (b'{"eventType":"run_created","eventData":{"deploymentId":"d","workflowName":"w","input":null}}')
            assert _post(f"{url}/api/v1/apps/default/runs/{run_id}/events", body) == 200
        finally:
            proc.terminate()
            assert proc.wait(30) == 0, log.read_text()[-3000:]
        assert (data_dir / "pgdata" / "PG_VERSION").exists()
        status = subprocess.run([embedded.find_binary("pg_ctl"), "status", "-D", str(data_dir / "pgdata")],
                                capture_output=True, check=False)
        assert status.returncode != 0, "stopping the service stops its PostgreSQL"

        proc, url = _start(data_dir, log)  # a restart finds the cluster and the run again
        try:
            _wait_ready(url, proc)
            with urllib.request.urlopen(f"{url}/api/v1/apps/default/runs/{run_id}", timeout=10) as resp:
                assert resp.status == 200
        finally:
            proc.terminate()
            proc.wait(30)
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_missing_sqitch_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(StartupError, match="apt-get install --no-upgrade sqitch"):
        migrate.deploy("postgresql://postgres@127.0.0.1:5432/postgres")


def test_missing_postgres_binaries_is_a_clear_error() -> None:
    with pytest.raises(StartupError, match="apt-get install --no-upgrade postgresql-15"):
        embedded.find_binary("no-such-postgres-program")


def test_unreachable_database_exits_with_a_message() -> None:
    port = free_port()
    result = subprocess.run(
        [sys.executable, "-m", "service", "--port", str(free_port()), f"postgresql://postgres@127.0.0.1:{port}/x"],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=False, env=service_env(),
    )
    assert result.returncode == 2
    assert "cannot connect to PostgreSQL" in result.stderr


def test_concurrent_starts_deploy_once() -> None:
    """Several replicas starting on an empty database take turns deploying."""
    from .pgw import create_database, db_url, drop_database

    name = create_database(prefix="pgw_race")
    try:
        procs = [subprocess.Popen([sys.executable, "-c", "import sys; from service import migrate; "
                                   "migrate.deploy(sys.argv[1])", db_url(name)], cwd=ROOT,
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT) for _ in range(3)]
        outputs = [p.communicate(timeout=120)[0].decode() for p in procs]
        assert [p.returncode for p in procs] == [0, 0, 0], outputs
    finally:
        drop_database(name)
