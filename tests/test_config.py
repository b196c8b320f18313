"""One source of truth for configuration: README's table, --help and start-up errors agree with config.OPTIONS."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from service import config
from service.config import OPTIONS, ConfigError, RetentionSettings, Settings
from service.dispatcher import DispatcherSettings

from .pgw import ROOT, free_port


def readme_table() -> dict[str, str]:
    """env name → default, from README's configuration table (``A`` / ``B`` rows split in two)."""
    text = (ROOT / "README.md").read_text()
    table = text[text.index("| environment | default | meaning |"):].split("\n\n", 1)[0]
    rows: dict[str, str] = {}
    for line in table.splitlines()[2:]:
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        names = re.findall(r"`([A-Z0-9_]+)`", cells[0])
        defaults = cells[1].split(" / ") if len(names) > 1 else [cells[1]]
        assert len(defaults) == len(names), line
        for name, default in zip(names, defaults, strict=True):
            assert name not in rows, f"{name} is listed twice"
            rows[name] = default.replace("`", "").strip()
    return rows


def test_readme_table_matches_the_options() -> None:
    rows = readme_table()
    assert sorted(rows) == sorted(option.env for option in OPTIONS)
    for option in OPTIONS:
        assert rows[option.env] == option.show_default(), option.env


def test_help_lists_every_option_with_its_default() -> None:
    result = subprocess.run([sys.executable, "-m", "service", "--help"], cwd=ROOT, capture_output=True, text=True,
                            timeout=60, check=True)
    for option in OPTIONS:
        line = next((line for line in result.stdout.splitlines() if line.strip().startswith(option.env + " ")), None)
        assert line is not None, option.env
        assert line.rstrip().endswith(f"[{option.show_default()}]"), line


@pytest.mark.parametrize(("env", "value", "says"), [
    ("WF_DB_POOL_MAX", "many", "WF_DB_POOL_MAX='many' is not a valid int"),
    ("WF_DB_LOCK_TIMEOUT_SECONDS", "-1", "must be at least 0"),
    ("WF_ENABLE_POLLER", "maybe", "WF_ENABLE_POLLER='maybe' is not a valid bool"),
    ("WF_LOG_FORMAT", "xml", "expected one of text, json"),
    ("WF_QUEUE_CONCURRENCY", "0", "WF_QUEUE_CONCURRENCY='0': must be at least 1"),
    ("WF_AUTH_CACHE_SECONDS", "600", "must be at most 300"),
    ("WF_RETENTION_BATCH", "0", "WF_RETENTION_BATCH='0': must be at least 1"),
    ("WF_QUEUE_SESSION_CHECK_SECONDS", "0", "must be greater than 0"),
    ("WF_QUEUE_MAX_ANSWER_BYTES", "100", "WF_QUEUE_MAX_ANSWER_BYTES='100': must be at least 256"),
])
def test_an_invalid_value_is_a_clear_startup_error(env: str, value: str, says: str) -> None:
    unreachable = f"postgresql://postgres@127.0.0.1:{free_port()}/x"
    result = subprocess.run([sys.executable, "-m", "service", "--port", str(free_port()), unreachable],
                            cwd=ROOT, capture_output=True, text=True, timeout=60, check=False,
                            env={"PATH": "/usr/bin:/bin", env: value})
    assert result.returncode == 2, result.stderr
    assert says in result.stderr
    assert "Traceback" not in result.stderr


def test_settings_dispatcher_and_retention_defaults_come_from_the_options() -> None:
    settings = Settings.from_env({})
    dispatcher = DispatcherSettings.from_env({})
    retention = RetentionSettings.from_env({})
    retention_values = {"interval": retention.interval, "run_days": retention.runs / 86400,
                        "dead_letter_days": retention.dead_letters / 86400, "health_checks": retention.health_checks,
                        "batch": retention.batch}
    for option in OPTIONS:
        expected = option.default() if callable(option.default) else option.default
        if option.env == "WF_QUEUE_LEASE_SECONDS":
            expected = dispatcher.handler_timeout + 30
        if option.env == "WF_QUEUE_APP_CONCURRENCY":
            expected = dispatcher.concurrency // 4
        if option.section == "retention":
            actual = retention_values[option.field]
        else:
            actual = getattr(settings if option.section == "service" else dispatcher, option.field)
        assert actual == expected, option.env
    assert Settings() == Settings.from_env({}), "constructing Settings in code gives the same defaults"
    assert RetentionSettings() == retention, "constructing RetentionSettings in code gives the same defaults"
    assert retention.delivered == dispatcher.retention, "one idempotency window for the dispatcher and the purge"
    assert RetentionSettings.from_env({"WF_RETENTION_RUN_DAYS": "2"}).runs == 2 * 86400
    with pytest.raises(ConfigError, match="WF_DB_POOL_MIN"):
        Settings.from_env({"WF_DB_POOL_MIN": "30", "WF_DB_POOL_MAX": "10"})
    assert config.read_section("dispatcher", {"WF_QUEUE_LEASE_SECONDS": "12.5"})["lease_seconds"] == 12.5
    assert Settings.from_env({"WF_HANDLER_ALLOW_NETWORKS": "10.0.0.0/8, 127.0.0.0/8"}).handler_allow_networks == (
        "10.0.0.0/8", "127.0.0.0/8")
