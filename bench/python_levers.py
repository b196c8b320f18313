"""CPU per call of the service's per-request and per-message Python helpers, this checkout against another.

    .venv/bin/python -m bench.python_levers [--compare ../other-checkout] [--repeat 3]

Each helper is timed with the thread's CPU clock (time.thread_time: other load on the machine slows it far
less than it slows wall time), best of 7 x 20,000 calls, in a fresh interpreter of each checkout in turn
(`--repeat` alternations). The helpers are called through the names both versions share, so the figures
are what one request or message pays for each of them:

  request body      validate.parse_json of a step_completed event body (~200 bytes) and of a 20 kB one
  claim result      the dispatcher's parse of a claim_messages answer carrying 20 deliveries
  ack parameters    what psycopg sends for a Jsonb of 20 ack results (the dispatcher's ack_messages call)
  handler answer    delivery.timeout_seconds of b'{"ok":true}' (world-local's answer)
  request line      one request log line (text and json formats) written to /dev/null
  request metric    metrics.request_finished for one route
  request id        observe.request_id_of(None) (no usable x-request-id header)
"""

from __future__ import annotations

import argparse
import json
import logging
import subprocess
import sys
import time
import timeit
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
N = 20_000


def _cpu_us(call: Any, number: int = N) -> float:
    return min(timeit.repeat(call, number=number, repeat=7, timer=time.thread_time)) / number * 1e6


def measure() -> dict[str, float]:
    """The figures of the checkout this interpreter imports `service` from."""
    from psycopg import adapters
    from psycopg.adapt import PyFormat
    from psycopg.types.json import Jsonb

    from service import dispatcher, logging_setup, metrics, observe, validate
    from service.delivery import timeout_seconds

    small = json.dumps({"eventType": "step_completed", "specVersion": 3, "correlationId": "step_01",
                        "eventData": {"result": [1, 2, {"value": "x" * 60}]}}).encode()
    large = json.dumps({"eventType": "step_completed", "specVersion": 3, "correlationId": "step_01",
                        "eventData": {"result": [{"id": i, "name": f"item {i}", "tags": ["a", "b"], "score": i / 7}
                                                 for i in range(250)]}}).encode()
    claim = json.dumps({"deliveries": [
        {"seq": 1000 + i, "attempt": 1, "messageId": f"msg_01M96RPRVEET6AQ7YQD1ET8Z{i:02d}", "appId": "default",
         "queueName": "__wkf_step_bench", "url": "http://127.0.0.1:3000/.well-known/workflow/v1/step",
         "podId": "pod-1", "dueAt": "2026-12-06T22:48:30.576+00:00",
         "body": json.dumps({"workflowRunId": f"wrun_{i}", "stepId": f"step_{i}"})} for i in range(20)],
        "nextDueIn": None, "appsAtShare": False})
    acks = [{"seq": 1000 + i, "attempt": 1, "podId": "pod-1", "outcome": "done"} for i in range(20)]
    parse_claim = getattr(getattr(dispatcher, "fastjson", json), "loads_text", json.loads)
    ack_dumps = getattr(getattr(dispatcher, "fastjson", None), "dumps", None)
    dumper = adapters.get_dumper(Jsonb, PyFormat.TEXT)(Jsonb)

    figures = {
        "request body ~200 B: parse": _cpu_us(lambda: validate.parse_json(small)),
        "request body 20 kB: parse": _cpu_us(lambda: validate.parse_json(large), 2_000),
        "claim result, 20 deliveries: parse": _cpu_us(lambda: parse_claim(claim), 5_000),
        "ack parameters, 20 results: dump": _cpu_us(lambda: dumper.dump(Jsonb(acks, ack_dumps)), 5_000),
        "handler answer {\"ok\":true}: read": _cpu_us(lambda: timeout_seconds(b'{"ok":true}')),
        "request metric": _cpu_us(lambda: metrics.request_finished("/api/v1/apps/{appId}/runs/{runId}/events",
                                                                   "POST", 200, 0.001)),
        "request id": _cpu_us(lambda: observe.request_id_of(None)),
    }
    fields = {"requestId": "0" * 32, "method": "POST", "route": "/api/v1/apps/{appId}/runs/{runId}/events",
              "status": 200, "durationMs": 1.234, "appId": "default", "userAgent": "pg-workflow-world/0.1 node"}
    with open("/dev/null", "w") as sink:
        for fmt in ("text", "json"):
            logging_setup.configure("info", fmt)
            handler = logging.getLogger().handlers[0]
            assert isinstance(handler, logging.StreamHandler)
            handler.setStream(sink)
            figures[f"request line ({fmt})"] = _cpu_us(
                lambda: observe.request_log.info("%s %s %s", "POST", fields["route"], 200,
                                                 extra={"fields": dict(fields)}))
    return figures


def run_in(checkout: Path) -> dict[str, float]:
    python = sys.executable if checkout == ROOT else str(checkout / ".venv" / "bin" / "python")
    # This file, loaded by its path; `service` from the checkout (the working directory, first on the path).
    code = ("import importlib.util, json; "
            f"spec = importlib.util.spec_from_file_location('python_levers', {str(Path(__file__).resolve())!r}); "
            "module = importlib.util.module_from_spec(spec); spec.loader.exec_module(module); "
            "print(json.dumps(module.measure()))")
    out = subprocess.run([python, "-c", code], cwd=checkout, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.splitlines()[-1])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.python_levers", description=__doc__.split("\n\n")[0])
    parser.add_argument("--compare", type=Path, metavar="DIR", help="another checkout (with its own .venv) as B")
    parser.add_argument("--repeat", type=int, default=3, help="alternations of A and B (best figure kept)")
    args = parser.parse_args(argv)
    checkouts = {"A": ROOT, **({"B": args.compare.resolve()} if args.compare else {})}
    best: dict[str, dict[str, float]] = {}
    for _ in range(args.repeat):
        for label, checkout in checkouts.items():
            for name, value in run_in(checkout).items():
                best.setdefault(label, {})[name] = min(value, best.get(label, {}).get(name, value))
    print(f"CPU µs per call (thread CPU clock, best of {args.repeat} alternations x 7 x up to {N:,} calls)")
    for name in best["A"]:
        line = f"  {name:<36} A {best['A'][name]:8.2f}"
        if "B" in best:
            line += f"   B {best['B'][name]:8.2f}   A-B {best['A'][name] - best['B'][name]:+8.2f}"
        print(line)


if __name__ == "__main__":
    main()
