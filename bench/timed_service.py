"""`python -m bench.timed_service ARGS` = `python -m service ARGS`, except that each
access-log line (WF_ACCESS_LOG=true) carries the time the service took to
answer, in microseconds, and the caller's user agent:

    ... aiohttp.access: pgw-access <us> <status> "<request line>" "<user agent>"

Used by bench/devkit_workloads.py to profile per-request latency without
touching the service itself.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from service.__main__ import main

ACCESS_LOG_FORMAT = 'pgw-access %D %s "%r" "%{User-Agent}i"'

_run_app = web.run_app


def _run_app_timed(*args: Any, **kwargs: Any) -> None:
    kwargs["access_log_format"] = ACCESS_LOG_FORMAT
    _run_app(*args, **kwargs)


if __name__ == "__main__":
    web.run_app = _run_app_timed  # service.__main__ calls web.run_app(...) at run time
    main()
