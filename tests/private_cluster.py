"""A throwaway PostgreSQL cluster of our own (initdb/pg_ctl in a temp dir, on a free loopback port),
for tests that stop and restart the server: never the machine's shared cluster on 5432."""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from service.embedded import find_binary

from .pgw import free_port


class PrivateCluster:
    def __init__(self, settings: dict[str, str] | None = None) -> None:
        self.settings = dict(settings or {})  # server settings (-c name=value) of every start
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
        options += "".join(f" -c {name}={value}" for name, value in self.settings.items())
        self._run(find_binary("pg_ctl"), "start", "-w", "-t", "60", "-D", str(self.pgdata), "-l", str(self.log),
                  "-o", options)
        return self

    def stop(self) -> None:
        self._run(find_binary("pg_ctl"), "stop", "-w", "-m", "fast", "-D", str(self.pgdata))

    def crash(self) -> None:
        """SIGKILL to the postmaster and every process of the server at once: nothing is flushed or written
        on the way out (WAL still in shared buffers is gone), as in a crash; start() then recovers."""
        postmaster = int((self.pgdata / "postmaster.pid").read_text().split()[0])
        os.kill(postmaster, signal.SIGSTOP)  # frozen: it starts no new process while we look for them
        children = [pid for pid in _pids() if _parent(pid) == postmaster]
        for pid in [*children, postmaster]:
            os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 30
        for pid in [*children, postmaster]:  # gone, not just dead: start() refuses while a zombie has the pid
            while _stat(pid) and time.monotonic() < deadline:
                time.sleep(0.01)

    def restart(self) -> None:
        self.stop()
        self.start()

    def destroy(self) -> None:
        subprocess.run([find_binary("pg_ctl"), "stop", "-w", "-m", "immediate", "-D", str(self.pgdata)],
                       user=self.run_as, capture_output=True, check=False)
        shutil.rmtree(self.base, ignore_errors=True)



def _pids() -> list[int]:
    return [int(entry.name) for entry in Path("/proc").iterdir() if entry.name.isdigit()]


def _stat(pid: int) -> list[str]:
    """Fields of /proc/<pid>/stat after the command (state, ppid, ...); [] when the process is gone."""
    try:
        return (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return []


def _parent(pid: int) -> int:
    fields = _stat(pid)
    return int(fields[1]) if fields else 0

