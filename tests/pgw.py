"""Test harness: throwaway databases cloned from a migrated template, and
real pg-workflow service processes started on them."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from psycopg.conninfo import make_conninfo

ROOT = Path(__file__).resolve().parent.parent
ADMIN_URL = os.environ.get("PGW_TEST_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


# Never inherited by a service the tests start: the tests pick the database, and
# a test run inside a Kubernetes pod (CI) must not make every service refuse to
# start single-tenant (WF_MODE=auto refuses in Kubernetes without a token).
# A test that wants one of these passes it explicitly.
NOT_INHERITED = ("DATABASE_URL", "KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT")


def service_env(**extra: str) -> dict[str, str]:
    """The environment of a service process: this one's, minus NOT_INHERITED, plus ``extra``."""
    return {**{k: v for k, v in os.environ.items() if k not in NOT_INHERITED}, **extra}


def db_url(name: str) -> str:
    return make_conninfo(ADMIN_URL, dbname=name)


def create_database(template: str | None = None, prefix: str = "pgw_test") -> str:
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        tmpl = f' TEMPLATE "{template}"' if template else ""
        conn.execute(f'CREATE DATABASE "{name}"{tmpl}')
    return name


def drop_database(name: str) -> None:
    assert name.startswith("pgw_"), "tests drop only databases they created"
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Service:
    """A pg-workflow process (python -m service) on a given database."""

    database_url: str
    env: dict[str, str] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    log_path: Path = field(default_factory=lambda: Path(tempfile.mkstemp(prefix="pgw-service-", suffix=".log")[1]))
    module: str = "service"  # `python -m <module>`; bench.timed_service adds request durations to the access log
    # Another checkout's code (its own interpreter and working directory): benchmarks compare two versions.
    python: str = sys.executable
    cwd: Path = ROOT

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> Service:
        env = service_env(**{"WF_ACCESS_LOG": "false", **self.env})
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [self.python, "-m", self.module, "--host", "127.0.0.1", "--port", str(self.port), self.database_url],
            cwd=self.cwd, env=env, stdout=log, stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"pg-workflow exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(self.url + "/ready", timeout=2) as resp:
                    if resp.status == 200:
                        return self
            except OSError:
                pass
            time.sleep(0.1)
        self.kill()
        raise RuntimeError(f"pg-workflow did not become ready in {timeout}s:\n{self.log_tail()}")

    def log_tail(self, chars: int = 4000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:]

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def kill(self) -> None:
        """SIGKILL: no cleanup at all, as when a pod is killed."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
