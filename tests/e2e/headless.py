"""A headless Chromium driven over the DevTools protocol (enough to load a page,
read it and click a button), for checking the DevKit web UI in a real browser.
Only loopback addresses are ever opened."""

from __future__ import annotations

import asyncio
import itertools
import json
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp


def chromium_path() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


class Browser:
    """One headless Chromium process with one page."""

    def __init__(self, binary: str) -> None:
        self.binary = binary
        self.profile = Path(tempfile.mkdtemp(prefix="pgw-chromium-"))
        self.process: asyncio.subprocess.Process | None = None
        self._ids = itertools.count(1)
        self._session: aiohttp.ClientSession | None = None
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._pending: dict[int, asyncio.Future[Any]] = {}
        self._reader: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Browser:
        self.process = await asyncio.create_subprocess_exec(
            self.binary, *["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
             "--no-first-run", "--no-default-browser-check", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--remote-debugging-address=127.0.0.1",
             "--remote-debugging-port=0", f"--user-data-dir={self.profile}", "about:blank"],
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
        )
        port_file = self.profile / "DevToolsActivePort"
        deadline = time.monotonic() + 60
        while not port_file.exists() or not port_file.read_text().strip():
            if self.process.returncode is not None or time.monotonic() > deadline:
                raise RuntimeError("chromium did not open its DevTools port")
            await asyncio.sleep(0.1)
        port = int(port_file.read_text().split()[0])
        self._session = aiohttp.ClientSession()
        async with self._session.get(f"http://127.0.0.1:{port}/json/list") as resp:
            targets = await resp.json(content_type=None)
        page = next(t for t in targets if t.get("type") == "page")
        self._ws = await self._session.ws_connect(page["webSocketDebuggerUrl"], max_msg_size=0)
        self._reader = asyncio.create_task(self._read())
        await self.send("Page.enable")
        await self.send("Runtime.enable")
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._reader is not None:
            self._reader.cancel()
        if self._ws is not None:
            await self._ws.close()
        if self._session is not None:
            await self._session.close()
        if self.process is not None and self.process.returncode is None:
            self.process.terminate()
            try:
                await asyncio.wait_for(self.process.wait(), 10)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()
        shutil.rmtree(self.profile, ignore_errors=True)

    async def _read(self) -> None:
        assert self._ws is not None
        async for msg in self._ws:
            data = json.loads(msg.data)
            if "id" in data and data["id"] in self._pending:
                future = self._pending.pop(data["id"])
                if "error" in data:
                    future.set_exception(RuntimeError(f"DevTools: {data['error']}"))
                else:
                    future.set_result(data.get("result", {}))
            elif data.get("method") == "Page.javascriptDialogOpening":
                # confirm()/alert() from the page: accept, as a user clicking OK.
                asyncio.get_running_loop().create_task(self.send("Page.handleJavaScriptDialog", accept=True))

    async def send(self, method: str, **params: Any) -> Any:
        assert self._ws is not None
        call_id = next(self._ids)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[call_id] = future
        await self._ws.send_str(json.dumps({"id": call_id, "method": method, "params": params}))
        return await asyncio.wait_for(future, 60)

    async def goto(self, url: str) -> None:
        assert url.startswith(("http://127.0.0.1:", "http://localhost:")), "loopback only"
        await self.send("Page.navigate", url=url)

    async def evaluate(self, expression: str) -> Any:
        result = await self.send("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"page script failed: {result['exceptionDetails']}")
        return result["result"].get("value")

    async def wait_for(self, expression: str, what: str, within: float = 30.0) -> Any:
        """Evaluates ``expression`` until it is truthy (for up to ``within`` seconds); its value."""
        deadline = time.monotonic() + within
        while True:
            try:
                value = await self.evaluate(expression)
            except RuntimeError:  # the page is still loading (no body yet, navigation in progress)
                value = None
            if value:
                return value
            if time.monotonic() > deadline:
                text = await self.evaluate("document.body ? document.body.innerText.slice(0, 2000) : ''")
                raise AssertionError(f"timed out waiting for {what}; page text:\n{text}")
            await asyncio.sleep(0.2)

    async def click_button(self, label: str, within: float = 30.0) -> None:
        """Waits until a visible, enabled button whose text is exactly ``label`` exists
        (the last one, i.e. a dialog's over the page's), then clicks it."""
        await self.wait_for(
            "(() => { const b = [...document.querySelectorAll('button')]"
            f".filter(b => b.innerText.trim() === {json.dumps(label)} && b.offsetParent !== null"
            " && !b.disabled).pop(); if (!b) return false; b.click(); return true; })()",
            f"an enabled button {label!r}", within,
        )

    async def buttons(self) -> list[str]:
        value = await self.evaluate(
            "[...document.querySelectorAll('button')].filter(b => b.offsetParent !== null)"
            ".map(b => b.innerText.trim()).filter(Boolean)"
        )
        return list(value or [])
