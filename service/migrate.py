"""Deploys the schema with sqitch before the service opens its port.

Several replicas may start at once: a session advisory lock makes them
deploy one after another (the later ones find nothing to do).
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
from pathlib import Path

import psycopg
from psycopg.conninfo import conninfo_to_dict

log = logging.getLogger("pg_workflow.migrate")

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEPLOY_LOCK_KEY = 7_262_001  # pg_advisory_lock key: "pg-workflow deploy"


class StartupError(RuntimeError):
    """A problem the operator must fix; the message says how."""


def libpq_env(url: str) -> dict[str, str]:
    """The PG* environment variables that make psql and sqitch reach ``url``."""
    info = conninfo_to_dict(url)
    mapping = {"host": "PGHOST", "port": "PGPORT", "user": "PGUSER", "password": "PGPASSWORD",
               "dbname": "PGDATABASE", "sslmode": "PGSSLMODE"}
    env = {var: str(info[key]) for key, var in mapping.items() if info.get(key)}
    return env


def deploy(url: str) -> None:
    sqitch = shutil.which("sqitch")
    if sqitch is None:
        raise StartupError("sqitch is not installed: install it with "
                           "'apt-get install --no-upgrade sqitch libdbd-pg-perl' (it deploys the schema)")
    if shutil.which("psql") is None:
        raise StartupError("psql is not installed: install it with 'apt-get install --no-upgrade postgresql-client-15'")
    if not (PROJECT_ROOT / "sqitch.plan").exists():
        raise StartupError(
            f"sqitch.plan not found in {PROJECT_ROOT}: install pg-workflow from its source tree (pip install -e .)"
        )
    env = {**os.environ, **libpq_env(url)}
    env.setdefault("SQITCH_FULLNAME", "pg-workflow")
    env.setdefault("SQITCH_EMAIL", "pg-workflow@localhost")
    try:
        with psycopg.connect(url, autocommit=True, application_name="pg-workflow deploy") as conn:
            log.info("waiting for the deploy lock")
            conn.execute("SELECT pg_advisory_lock(%s)", (DEPLOY_LOCK_KEY,))
            log.info("deploying the schema with sqitch")
            result = subprocess.run(
                [sqitch, "--chdir", str(PROJECT_ROOT), "deploy", "db:pg:"],
                env=env, capture_output=True, text=True, check=False,
            )
            conn.execute("SELECT pg_advisory_unlock(%s)", (DEPLOY_LOCK_KEY,))
    except psycopg.OperationalError as exc:
        raise StartupError(f"cannot connect to PostgreSQL at {_redacted(url)}: {exc}") from None
    output = (result.stdout + result.stderr).strip()
    if result.returncode != 0 and "Nothing to deploy" not in output:
        raise StartupError(f"sqitch deploy failed (exit {result.returncode}):\n{output}")
    for line in output.splitlines():
        log.info("sqitch: %s", line)


def _redacted(url: str) -> str:
    info = conninfo_to_dict(url)
    return " ".join(f"{k}={'***' if k == 'password' else v}" for k, v in info.items())
