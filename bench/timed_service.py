"""`python -m bench.timed_service ARGS` = `python -m service ARGS`, except that each
access-log line (WF_ACCESS_LOG=true) carries the time the service took to
answer, in microseconds, and the caller's user agent:

    ... aiohttp.access: pgw-access <us> <status> "<request line>" "<user agent>"

Used by bench/devkit_workloads.py to profile per-request latency without
touching the service itself.
"""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web

from service import timeouts
from service.__main__ import main

ACCESS_LOG_FORMAT = 'pgw-access %D %s "%r" "%{User-Agent}i"'

_run = timeouts.run


def _run_timed(app: web.Application, *args: Any, **kwargs: Any) -> None:
    # The service's own request lines replace aiohttp's access log; this benchmark-only
    # mode turns it back on (it prints raw request lines: never use it in production).
    access_log = logging.getLogger("aiohttp.access")
    access_log.disabled = False
    _run(app, *args, access_log=access_log, access_log_format=ACCESS_LOG_FORMAT, **kwargs)


if __name__ == "__main__":
    timeouts.run = _run_timed  # service.__main__ calls timeouts.run(...) at run time
    main()
