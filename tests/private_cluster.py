"""A throwaway PostgreSQL cluster of our own (initdb/pg_ctl in a temp dir, on a free loopback port),
for tests that stop and restart the server: never the machine's shared cluster on 5432."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

from service.embedded import find_binary

from .pgw import free_port


class PrivateCluster:
    def __init__(self) -> None:
        self.base = Path(tempfile.mkdtemp(prefix="pgw-cluster-"))
        os.chmod(self.base, 0o755)  # run as user postgres when we are root
        self.pgdata = self.base / "pgdata"
        self.log = self.base / "postgres.log"
        self.port = free_port()
        self.run_as = "postgres" if os.geteuid() == 0 else None
        if self.run_as is not None:
            pw = pwd.getpwnam(self.run_as)
            os.chown(self.base, pw.pw_uid, pw.pw_gid)

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str) -> None:
        done = subprocess.run(list(args), user=self.run_as, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            tail = self.log.read_text()[-2000:] if self.log.exists() else ""
            raise RuntimeError(f"{args[0]} failed: {done.stdout}{done.stderr}\n{tail}")

    def init(self) -> PrivateCluster:
        self._run(find_binary("initdb"), "-D", str(self.pgdata), "-U", "postgres", "--auth=trust",
                  "--encoding=UTF8", "--no-locale")
        return self.start()

    def start(self) -> PrivateCluster:
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories='{self.base}'"
        self._run(find_binary("pg_ctl"), "start", "-w", "-t", "60", "-D", str(self.pgdata), "-l", str(self.log),
                  "-o", options)
        return self

    def stop(self) -> None:
        self._run(find_binary("pg_ctl"), "stop", "-w", "-m", "fast", "-D", str(self.pgdata))

    def restart(self) -> None:
        self.stop()
        self.start()

    def destroy(self) -> None:
        subprocess.run([find_binary("pg_ctl"), "stop", "-w", "-m", "immediate", "-D", str(self.pgdata)],
                       user=self.run_as, capture_output=True, check=False)
        shutil.rmtree(self.base, ignore_errors=True)
