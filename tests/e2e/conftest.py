"""Fixtures for the DevKit end-to-end tests: install and build the e2e apps
(once, and only when their inputs changed), then run them against the session's
pg-workflow service with the pg-workflow-world client as their World:
``app/`` on DevKit 4 (workflow 4.8.9) and ``app5/`` on DevKit 5 (workflow 5.0.0-beta.55).

Missing npm/node or a failing install/build fails the tests; nothing here skips.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import pytest

from ..pgw import Service, free_port

E2E_DIR = Path(__file__).resolve().parent
APP_DIR = E2E_DIR / "app"
APP5_DIR = E2E_DIR / "app5"
CLIENT_DIR = E2E_DIR.parent.parent / "clients" / "world"
# The DevKit web UI (`workflow web`) needs Node >= 22; the suite installs the npm package node@22 here.
NODE22_DIR = E2E_DIR / ".node22"
NODE22 = NODE22_DIR / "node_modules" / ".bin" / "node"
# What `wf build` writes: DevKit 4 has a step route; DevKit 5 writes ES modules and has none.
WELL_KNOWN_FILES = {APP_DIR: ("flow.js", "step.js", "webhook.js", "manifest.json"),
                    APP5_DIR: ("flow.mjs", "webhook.mjs", "manifest.json")}


def _install_stamp(app_dir: Path) -> Path:
    return app_dir / "node_modules" / ".pgw-e2e-install-stamp"


def _build_stamp(app_dir: Path) -> Path:
    return app_dir / ".well-known" / "workflow" / "v1" / ".pgw-e2e-build-stamp"


def _progress(message: str) -> None:
    # Straight to the real stderr: npm/build progress should be visible even
    # while pytest captures output.
    print(f"[e2e] {message}", file=sys.__stderr__, flush=True)


def _digest(paths: list[Path]) -> str:
    h = hashlib.sha256()
    for path in sorted(paths):
        h.update(str(path.relative_to(E2E_DIR.parent.parent)).encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def _install_inputs(app_dir: Path) -> list[Path]:
    # .npmrc sets install-links=true: the client is copied into node_modules
    # like a published package, so its sources are install inputs too.
    client = [CLIENT_DIR / "package.json", CLIENT_DIR / "index.js", CLIENT_DIR / "index.d.ts"]
    client += list((CLIENT_DIR / "lib").glob("*.js"))
    return [app_dir / "package.json", app_dir / "package-lock.json", app_dir / ".npmrc", *client]


def _build_inputs(app_dir: Path) -> list[Path]:
    return [*_install_inputs(app_dir), *(app_dir / "workflows").glob("*")]


def _run(cmd: list[str], what: str, app_dir: Path = APP_DIR) -> None:
    _progress(f"{what}: {' '.join(cmd)} (in {app_dir})")
    started = time.monotonic()
    with tempfile.TemporaryFile() as out:
        proc = subprocess.run(cmd, cwd=app_dir, stdout=out, stderr=subprocess.STDOUT, check=False)
        out.seek(0)
        output = out.read().decode(errors="replace")
    for line in output.splitlines()[-15:]:
        _progress(f"  {line}")
    if proc.returncode != 0:
        pytest.fail(f"{what} failed with exit code {proc.returncode}:\n{output[-4000:]}", pytrace=False)
    _progress(f"{what} done in {time.monotonic() - started:.1f}s")


@pytest.fixture(scope="session")
def e2e_app_build() -> Path:
    """node_modules installed from the lockfile and `wf build` output, up to date."""
    return ensure_app_built()


@pytest.fixture(scope="session")
def e2e_app5_build() -> Path:
    """The DevKit 5 app (app5/): installed from its lockfile and built, up to date."""
    return ensure_app_built(APP5_DIR)


def ensure_app_built(app_dir: Path = APP_DIR) -> Path:
    """Install and build the app in ``app_dir`` unless the stamps say it is up to date; the app dir.
    Also used by bench/devkit_workloads.py."""
    for tool in ("node", "npm"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} is required for the DevKit e2e tests but was not found on PATH", pytrace=False)

    install_stamp, build_stamp = _install_stamp(app_dir), _build_stamp(app_dir)
    install_digest = _digest(_install_inputs(app_dir))
    if not install_stamp.exists() or install_stamp.read_text() != install_digest:
        # `npm install --no-save` installs exactly what the lockfile says and never
        # rewrites it. (`npm ci` refuses this lockfile: cbor-x's optional native
        # @cbor-extract/* packages are unavailable from the registry here, so npm
        # leaves them out of the lock and `ci` then reports it "out of sync".)
        # npm keeps an existing copy of a `file:` dependency whose version did not
        # change, so without this the app would go on running a stale client.
        shutil.rmtree(app_dir / "node_modules" / "pg-workflow-world", ignore_errors=True)
        _run(["npm", "install", "--no-save", "--no-audit", "--no-fund"], "npm install (from package-lock.json)",
             app_dir)
        install_stamp.write_text(install_digest)
    else:
        _progress(f"{app_dir.name}/node_modules up to date")

    build_digest = _digest(_build_inputs(app_dir))
    outputs = WELL_KNOWN_FILES[app_dir]
    outputs_present = all((build_stamp.parent / name).exists() for name in outputs)
    if not outputs_present or not build_stamp.exists() or build_stamp.read_text() != build_digest:
        _run([str(app_dir / "node_modules" / ".bin" / "wf"), "build"], "wf build", app_dir)
        missing = [n for n in outputs if not (build_stamp.parent / n).exists()]
        if missing:
            pytest.fail(f"wf build produced no {', '.join(missing)}", pytrace=False)
        build_stamp.write_text(build_digest)
    else:
        _progress(f"{app_dir.name}: wf build output up to date")
    return app_dir


class ControlError(AssertionError):
    def __init__(self, status: int, body: Any) -> None:
        super().__init__(f"HTTP {status}: {body}")
        self.status = status
        self.body = body


def http_json(method: str, url: str, body: Any = None, timeout: float = 60.0) -> Any:
    """JSON request with the standard library; raises ControlError on non-2xx."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method, headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            text = resp.read().decode()
    except urllib.error.HTTPError as err:
        text = err.read().decode()
        try:
            payload: Any = json.loads(text)
        except ValueError:
            payload = text
        raise ControlError(err.code, payload) from None
    return json.loads(text) if text else None


def tagged(data: bytes) -> dict[str, str]:
    """The wire form of a Uint8Array."""
    return {"__type": "Uint8Array", "data": base64.b64encode(data).decode()}


def untag(value: Any) -> bytes:
    assert isinstance(value, dict) and value.get("__type") == "Uint8Array", value
    return base64.b64decode(value["data"])


@dataclass
class E2EApp:
    """The running DevKit app and the pg-workflow service it talks to."""

    url: str
    service: Service
    deployment_id: str
    process: subprocess.Popen[bytes]
    log_path: Path
    env: dict[str, str] = field(default_factory=dict)  # the app's full environment
    app_id: str = "default"
    app_dir: Path = APP_DIR
    _started: list[str] = field(default_factory=list)

    # --- the app's control routes -------------------------------------------------
    def start(self, workflow: str, *args: Any, options: dict[str, Any] | None = None) -> str:
        """Starts a run; ``options`` are start()'s (DevKit 5 app only, e.g. attributes)."""
        body: dict[str, Any] = {"workflow": workflow, "args": list(args)}
        if options is not None:
            body["options"] = options
        run_id = http_json("POST", f"{self.url}/control/start", body)["runId"]
        self._started.append(run_id)
        return run_id

    def outcome(self, run_id: str, wait: float = 30.0) -> dict[str, Any]:
        """The run's status once terminal (or when `wait` runs out), with its hydrated result."""
        return http_json("GET", f"{self.url}/control/runs/{run_id}?waitMs={int(wait * 1000)}", timeout=wait + 30)

    def result(self, run_id: str, wait: float = 30.0) -> Any:
        out = self.outcome(run_id, wait)
        assert out["status"] == "completed", (
            f"run {run_id} ended {out['status']}: {out.get('error')}\n{self.log_tail(run_id=run_id)}"
        )
        return out["result"]

    def run(self, workflow: str, *args: Any, wait: float = 30.0) -> Any:
        return self.result(self.start(workflow, *args), wait)

    def control(self, method: str, path: str, body: Any = None, timeout: float = 60.0) -> Any:
        return http_json(method, f"{self.url}/control/{path}", body, timeout)

    def events(self, run_id: str) -> list[dict[str, Any]]:
        return self.control("GET", f"runs/{run_id}/events")["events"]

    def wait_for(self, predicate: Any, what: str, timeout: float = 15.0) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = predicate()
            if value:
                return value
            time.sleep(0.05)
        raise AssertionError(f"timed out waiting for {what}\n{self.log_tail()}")

    # --- the service's own API ------------------------------------------------------
    def api(self, method: str, path: str, body: Any = None) -> Any:
        return http_json(method, f"{self.service.url}/api/v1/apps/{self.app_id}/{path}", body)

    def run_with_app_env(self, *argv: str, timeout: float = 120.0) -> str:
        """Runs a command in the app directory with the app's full environment (as a
        CLI or a script next to the app would); its stdout, or a failure with its output."""
        proc = subprocess.run(
            list(argv), cwd=self.app_dir, env={**self.env, "WORKFLOW_NO_UPDATE_CHECK": "1"},
            capture_output=True, timeout=timeout, check=False,
        )
        out, err = proc.stdout.decode(errors="replace"), proc.stderr.decode(errors="replace")
        assert proc.returncode == 0, f"{' '.join(argv)} exited {proc.returncode}\n{out[-2000:]}\n{err[-2000:]}"
        return out

    def log_tail(self, lines: int = 40, run_id: str | None = None) -> str:
        """The app's last log lines; with ``run_id`` also what the service logged and stored for the run."""
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        out = "--- e2e app log ---\n" + "\n".join(text.splitlines()[-lines:])
        if run_id is None:
            return out
        service_log = self.service.log_tail(6000).splitlines()[-lines:]
        out += "\n--- service log ---\n" + "\n".join(service_log)
        with contextlib.suppress(Exception):  # a diagnosis must not hide the failure it explains
            with psycopg.connect(self.service.database_url, autocommit=True) as conn:
                events = conn.execute("SELECT event_type, created_at FROM workflow.events WHERE run_id = %s"
                                      " ORDER BY run_ordinal", (run_id,)).fetchall()
                messages = conn.execute("SELECT kind, status, attempt, failures, idempotency_key IS NOT NULL,"
                                        " due_at, lease_until, claimed_by, last_error, payload::text"
                                        " FROM workflow.messages WHERE run_id = %s ORDER BY message_seq",
                                        (run_id,)).fetchall()
            out += "\n--- events of the run ---\n" + "\n".join(map(str, events))
            out += "\n--- messages of the run ---\n" + "\n".join(map(str, messages))
        return out


@pytest.fixture(scope="session")
def e2e_app(pgw_server: Service, e2e_app_build: Path) -> Iterator[E2EApp]:
    """The e2e app served on a free port, its endpoints registered with pgw_server."""
    with running_app(pgw_server, e2e_app_build) as app:
        yield app


@pytest.fixture(scope="session")
def e2e_app5(pgw_server: Service, e2e_app5_build: Path) -> Iterator[E2EApp]:
    """The DevKit 5 app served on a free port against the same pgw_server as e2e_app (one service, both lines)."""
    with running_app(pgw_server, e2e_app5_build) as app:
        yield app


@contextlib.contextmanager
def running_app(pgw_server: Service, e2e_app_build: Path, app_id: str = "default") -> Iterator[E2EApp]:
    """The e2e app on a free port as app ``app_id`` of ``pgw_server`` (which must exist); stopped on exit.
    A second app id gives a second tenant whose settings (e.g. an encryption secret) leave the shared app alone."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    deployment_id = f"e2e-{uuid.uuid4().hex[:8]}"
    log_path = Path(tempfile.mkstemp(prefix="pgw-e2e-app-", suffix=".log")[1])
    env = {
        **os.environ,
        "PORT": str(port),
        "HOST": "127.0.0.1",
        "WORKFLOW_TARGET_WORLD": "pg-workflow-world",
        "WORKFLOW_SERVICE_URL": pgw_server.url,
        "WORKFLOW_APP_ID": app_id,
        "WORKFLOW_APP_URL": url,
        "WORKFLOW_DEPLOYMENT_ID": deployment_id,
        "NODE_NO_WARNINGS": "1",
    }
    for name in ("WORKFLOW_LOCAL_DATA_DIR", "K8S_SERVICE_ACCOUNT_DIR"):
        env.pop(name, None)
    _progress(f"starting the e2e app on {url} (log: {log_path})")
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            ["node", "server.mjs"], cwd=e2e_app_build, env=env, stdout=log, stderr=subprocess.STDOUT
        )
    app = E2EApp(url=url, service=pgw_server, deployment_id=deployment_id, process=process, log_path=log_path,
                 env=env, app_id=app_id, app_dir=e2e_app_build)
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                pytest.fail(f"the e2e app exited with {process.returncode}\n{app.log_tail()}", pytrace=False)
            try:
                if http_json("GET", f"{url}/control/ready", timeout=2)["ready"]:
                    break
            except (OSError, ControlError):
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"the e2e app did not become ready\n{app.log_tail()}", pytrace=False)
            time.sleep(0.1)
        yield app
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@pytest.fixture(scope="session")
def node22() -> Path:
    """A Node 22 binary (npm package node@22, installed once into tests/e2e/.node22)."""
    def version() -> str:
        if not NODE22.exists():
            return ""
        out = subprocess.run([str(NODE22), "--version"], capture_output=True, check=False)
        return out.stdout.decode().strip()

    if not version().startswith("v22."):
        NODE22_DIR.mkdir(exist_ok=True)
        _progress("installing node@22 (npm) for the web UI check")
        proc = subprocess.run(
            ["npm", "install", "--prefix", str(NODE22_DIR), "--no-save", "--no-audit", "--no-fund", "node@22"],
            capture_output=True, check=False,
        )
        if not version().startswith("v22."):
            pytest.fail(f"could not install node@22: {proc.stdout.decode()[-2000:]}{proc.stderr.decode()[-2000:]}",
                        pytrace=False)
    return NODE22


@pytest.fixture(scope="session")
def web_ui(e2e_app: E2EApp, node22: Path) -> Iterator[str]:
    """`workflow web --backend pg-workflow-world` (the DevKit's web UI) run with the app's environment;
    its base URL."""
    port = free_port()
    log_path = Path(tempfile.mkstemp(prefix="pgw-e2e-web-", suffix=".log")[1])
    env = {**e2e_app.env, "WORKFLOW_NO_UPDATE_CHECK": "1", "PATH": f"{node22.parent}{os.pathsep}{os.environ['PATH']}"}
    env.pop("PORT", None)
    _progress(f"starting the DevKit web UI on port {port} (log: {log_path})")
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            [str(node22), "node_modules/.bin/workflow", "web", "--backend", "pg-workflow-world", "--noBrowser",
             "--webPort", str(port)],
            cwd=APP_DIR, env=env, stdout=log, stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            if process.poll() is not None:
                pytest.fail(f"workflow web exited with {process.returncode}: {log_path.read_text()[-3000:]}",
                            pytrace=False)
            try:
                with urllib.request.urlopen(url + "/", timeout=2) as resp:
                    if resp.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"workflow web did not answer: {log_path.read_text()[-3000:]}", pytrace=False)
            time.sleep(0.2)
        yield url
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
