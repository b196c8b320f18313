"""The TokenReview cache on its own: bounded, failures never kept, one review per token at a time."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections import Counter

import pytest

from service.errors import ApiError
from service.token_review import ReviewCache, unavailable


class Reviews:
    """A review function that counts its calls and answers from ``users``."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.users = {f"t{i}": f"system:serviceaccount:ns:sa{i}" for i in range(10)}
        self.failing = False
        self.gate: asyncio.Event | None = None

    async def __call__(self, token: str) -> str | None:
        self.calls[token] += 1
        if self.gate is not None:
            await self.gate.wait()
        if self.failing:
            raise unavailable("test outage")
        return self.users.get(token)


async def test_the_cache_is_bounded_oldest_first() -> None:
    reviews = Reviews()
    cache = ReviewCache(reviews, ttl_seconds=300, max_entries=3)
    for token in ("t0", "t1", "t2", "t3"):
        assert await cache.username(token) == reviews.users[token]
    assert await cache.username("t3") and await cache.username("t1")
    assert reviews.calls["t1"] == 1 and reviews.calls["t3"] == 1
    await cache.username("t0")
    assert reviews.calls["t0"] == 2, "the oldest entry was dropped when the fourth came in"


async def test_refusals_and_failures_are_not_cached() -> None:
    reviews = Reviews()
    cache = ReviewCache(reviews, ttl_seconds=300, max_entries=10)
    assert await cache.username("unknown") is None
    assert await cache.username("unknown") is None
    assert reviews.calls["unknown"] == 2
    reviews.failing = True
    with pytest.raises(ApiError) as err:
        await cache.username("t1")
    assert err.value.status == 503
    reviews.failing = False
    assert await cache.username("t1") == reviews.users["t1"]
    assert reviews.calls["t1"] == 2


async def test_concurrent_callers_share_one_review_and_its_failure() -> None:
    reviews = Reviews()
    reviews.gate = asyncio.Event()
    reviews.failing = True
    cache = ReviewCache(reviews, ttl_seconds=300, max_entries=10)
    waiters = [asyncio.create_task(cache.username("t5")) for _ in range(5)]
    await asyncio.sleep(0.01)
    waiters[0].cancel()  # one caller leaving does not cancel the others' review
    reviews.gate.set()
    results = await asyncio.gather(*waiters, return_exceptions=True)
    assert isinstance(results[0], asyncio.CancelledError)
    assert all(isinstance(r, ApiError) and r.status == 503 for r in results[1:])
    assert reviews.calls["t5"] == 1


async def test_an_expired_jwt_is_not_cached() -> None:
    reviews = Reviews()
    claims = base64.urlsafe_b64encode(json.dumps({"exp": time.time() - 5}).encode()).decode().rstrip("=")
    token = f"h.{claims}.s"
    reviews.users[token] = "system:serviceaccount:ns:sa"
    cache = ReviewCache(reviews, ttl_seconds=300, max_entries=10)
    await cache.username(token)
    await cache.username(token)
    assert reviews.calls[token] == 2
