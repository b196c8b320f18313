"""`python -m bench.uvloop_service ARGS` = `python -m service ARGS` on uvloop's event loop instead of asyncio's.

For bench/service_cost.py (--b-module bench.uvloop_service): uvloop measured against asyncio on the same
code, in the same run. Needs `pip install uvloop`.
"""

from __future__ import annotations

import asyncio

import uvloop

from service.__main__ import main

if __name__ == "__main__":
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())  # service.timeouts.run asks the policy for its loop
    main()
