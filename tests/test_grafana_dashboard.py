"""deploy/grafana/pg-workflow-dashboard.json parses as a Grafana dashboard and
every query names only metric families of SPEC §9."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

DASHBOARD = Path(__file__).resolve().parent.parent / "deploy" / "grafana" / "pg-workflow-dashboard.json"

# SPEC §9: the families /metrics exposes (wf_db_pool_* is a prefix).
SPEC_FAMILIES = {
    "wf_events_created_total", "wf_runs_created_total", "wf_messages_dispatched_total",
    "wf_messages_dead_lettered_total", "wf_queue_depth", "wf_active_runs", "wf_dispatch_latency_seconds",
    "wf_http_request_duration_seconds",
}
SPEC_PREFIXES = ("wf_db_pool_",)
HISTOGRAMS = {"wf_dispatch_latency_seconds", "wf_http_request_duration_seconds"}
# What the dashboard must show (issue 12).
REQUIRED = {"wf_http_request_duration_seconds", "wf_queue_depth", "wf_dispatch_latency_seconds",
            "wf_messages_dead_lettered_total", "wf_active_runs"}


def load() -> dict[str, Any]:
    return json.loads(DASHBOARD.read_text())


def all_panels(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for panel in panels:
        yield panel
        yield from all_panels(panel.get("panels", []))


def queries(dashboard: dict[str, Any]) -> list[str]:
    exprs = [t["expr"] for p in all_panels(dashboard["panels"]) for t in p.get("targets", [])]
    for var in dashboard["templating"]["list"]:
        if var["type"] == "query":
            exprs.append(var["query"]["query"] if isinstance(var["query"], dict) else var["query"])
    return exprs


def family(name: str) -> str:
    """The family a series name belongs to (histogram series carry a suffix)."""
    for suffix in ("_bucket", "_count", "_sum"):
        base = name.removesuffix(suffix)
        if base != name and base in HISTOGRAMS:
            return base
    return name


def test_dashboard_parses_with_unique_panels_and_a_datasource_variable() -> None:
    dashboard = load()
    assert dashboard["title"] and dashboard["uid"] and dashboard["schemaVersion"] >= 30
    panels = list(all_panels(dashboard["panels"]))
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    for panel in panels:
        assert {"h", "w", "x", "y"} <= panel["gridPos"].keys() and panel["gridPos"]["x"] + panel["gridPos"]["w"] <= 24
        if panel["type"] != "row":
            assert panel["targets"], f"panel {panel['title']!r} has no query"
            assert panel["datasource"]["uid"] == "${datasource}"
            assert panel.get("description"), f"panel {panel['title']!r} explains nothing"


def test_every_query_names_only_spec_metric_families() -> None:
    used = set()
    for expr in queries(load()):
        assert expr.count("(") == expr.count(")") and expr.count("{") == expr.count("}"), expr
        names = re.findall(r"\b(wf_[a-z0-9_]+)", expr)
        assert names, f"query names no pg-workflow metric: {expr}"
        for name in names:
            fam = family(name)
            assert fam in SPEC_FAMILIES or fam.startswith(SPEC_PREFIXES), f"{name} is not a SPEC §9 metric ({expr})"
            if fam in HISTOGRAMS:
                assert name != fam, f"a histogram is queried through _bucket/_count/_sum: {expr}"
            used.add(fam)
    assert REQUIRED <= used, f"missing panels for {REQUIRED - used}"


def test_histogram_quantiles_aggregate_by_le() -> None:
    for expr in queries(load()):
        if "histogram_quantile" in expr:
            assert re.search(r"sum by \((?:[a-z_]+, )*le(?:, [a-z_]+)*\) \(rate\(wf_[a-z_]+_bucket", expr), expr
