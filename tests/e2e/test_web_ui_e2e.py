"""The DevKit's web UI (`workflow web`, @workflow/web) on pg-workflow, checked
in a headless Chromium: it lists the app's runs, and its Cancel button cancels
a running run through the client World and pg-workflow's API."""

from __future__ import annotations

import asyncio
import json

import pytest

from .conftest import E2EApp
from .headless import Browser, chromium_path


@pytest.fixture(scope="module")
def chromium() -> str:
    path = chromium_path()
    if path is None:
        pytest.fail("chromium is required for the web UI check (Debian package chromium; scripts/test.sh installs it)",
                    pytrace=False)
    return path


def test_web_ui_lists_runs_and_cancels_a_running_one(e2e_app: E2EApp, web_ui: str, chromium: str) -> None:
    done = e2e_app.start("multiStep", 6, 7)
    e2e_app.result(done)
    running = e2e_app.start("sleepAnHour", "to be cancelled from the UI")
    e2e_app.wait_for(lambda: "wait_created" in [e["eventType"] for e in e2e_app.events(running)],
                     "the run to sleep")

    async def drive() -> None:
        async with Browser(chromium) as page:
            await page.goto(f"{web_ui}/?resource=run")
            for run_id in (done, running):
                await page.wait_for(f"document.body.innerHTML.includes({json.dumps(run_id)})",
                                    f"run {run_id} in the runs list")
            await page.goto(f"{web_ui}/run/{running}")
            await page.click_button("Cancel")
            await page.click_button("Cancel Run")  # the confirmation dialog
            await page.wait_for("document.body.innerText.includes('Cancelled')", "the page to show the run cancelled")

    asyncio.run(drive())
    assert e2e_app.api("GET", f"runs/{running}")["status"] == "cancelled"
    assert e2e_app.events(running)[-1]["eventType"] == "run_cancelled"
    assert e2e_app.outcome(done)["status"] == "completed"
