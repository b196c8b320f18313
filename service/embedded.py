"""A private PostgreSQL cluster for running without DATABASE_URL.

It lives in a data directory, listens only on a unix socket inside it, and
uses the system's initdb/pg_ctl. Started as root, the server runs as user
postgres (PostgreSQL refuses to run as root).
"""

from __future__ import annotations

import glob
import logging
import os
import pwd
import shutil
import subprocess
from pathlib import Path

import psycopg

from .migrate import StartupError

log = logging.getLogger("pg_workflow.embedded")

DATABASE = "pg_workflow"
INSTALL_HINT = "install them with 'apt-get install --no-upgrade postgresql-15'"


def find_binary(name: str) -> str:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"),
                        key=lambda p: int(Path(p).parts[4]) if Path(p).parts[4].isdigit() else 0)
    if candidates:
        return candidates[-1]
    raise StartupError(f"PostgreSQL server program {name!r} not found: {INSTALL_HINT}, or pass a DATABASE_URL")


class EmbeddedPostgres:
    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.pgdata = data_dir / "pgdata"
        self.socket_dir = data_dir / "run"
        self.log_file = data_dir / "postgres.log"
        self.run_as = "postgres" if os.geteuid() == 0 else None
        self.started_here = False

    @property
    def url(self) -> str:
        return f"postgresql://postgres@/{DATABASE}?host={self.socket_dir}"

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(list(args), user=self.run_as, capture_output=True, text=True, check=False)

    def start(self) -> str:
        initdb, pg_ctl = find_binary("initdb"), find_binary("pg_ctl")
        if self.run_as is not None:
            try:
                pw = pwd.getpwnam(self.run_as)
            except KeyError:
                raise StartupError(f"running as root needs the system user postgres: {INSTALL_HINT}") from None
        for path in (self.data_dir, self.socket_dir):
            path.mkdir(parents=True, exist_ok=True)
            if self.run_as is not None:
                os.chown(path, pw.pw_uid, pw.pw_gid)
        if not (self.pgdata / "PG_VERSION").exists():
            log.info("creating a PostgreSQL cluster in %s", self.pgdata)
            done = self._run(initdb, "-D", str(self.pgdata), "-U", "postgres", "--auth=trust",
                             "--encoding=UTF8", "--no-locale")
            if done.returncode != 0:
                raise StartupError(f"initdb failed:\n{done.stdout}{done.stderr}")
        if self._run(pg_ctl, "status", "-D", str(self.pgdata)).returncode == 0:
            log.info("PostgreSQL in %s is already running", self.pgdata)
        else:
            log.info("starting PostgreSQL (socket in %s, log %s)", self.socket_dir, self.log_file)
            options = f"-c listen_addresses='' -c unix_socket_directories='{self.socket_dir}' -c max_connections=200"
            done = self._run(pg_ctl, "start", "-w", "-t", "60", "-D", str(self.pgdata), "-l", str(self.log_file),
                             "-o", options)
            if done.returncode != 0:
                tail = self.log_file.read_text()[-2000:] if self.log_file.exists() else ""
                raise StartupError(f"PostgreSQL did not start:\n{done.stdout}{done.stderr}\n{tail}")
            self.started_here = True
        self._ensure_database()
        return self.url

    def _ensure_database(self) -> None:
        with psycopg.connect(f"postgresql://postgres@/postgres?host={self.socket_dir}", autocommit=True) as conn:
            if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,)).fetchone() is None:
                log.info("creating database %s", DATABASE)
                conn.execute(f'CREATE DATABASE "{DATABASE}"')

    def stop(self) -> None:
        if self.started_here:
            log.info("stopping PostgreSQL in %s", self.pgdata)
            self._run(find_binary("pg_ctl"), "stop", "-D", str(self.pgdata), "-m", "fast", "-w")
