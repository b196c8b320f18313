"""Name lookups for deliveries: asynchronous, under a deadline, bounded per app and per replica.

Handler hosts are tenant-chosen names, so a tenant chooses which DNS server a
lookup waits on. We resolve with c-ares (aiodns) rather than getaddrinfo on a
thread pool: a getaddrinfo call cannot be cancelled, so a lookup that times out
would keep its thread until glibc gives up (resolv.conf timeout * attempts *
search domains: tens of seconds in Kubernetes), and a handful of slow names
would tie up the pool everybody's lookups share. c-ares needs no thread per
lookup, and its per-try timeout and try count (set below from the resolve
timeout) bound how long a query lives after we stopped waiting for it.

Two bounds keep one app's lookups from crowding out the others':
``per_app`` lookups in flight per app, and ``total`` per replica. A lookup
holds its slots until c-ares really finishes it, not just until we stop
waiting, so abandoned lookups count too; waiting for a slot is part of the
lookup's time. An app with slow DNS therefore mostly waits on itself.

Failures are ``ResolveFailed`` with a short reason that names what went wrong
(not found, timed out) and never an address.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Sequence

import aiodns
import aiodns.error
import pycares

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class ResolveFailed(Exception):
    """A name could not be resolved in time; ``reason`` is what a delivery stores."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class _AppSlots:
    """One app's semaphore and how many lookups hold it or wait for it (dropped when idle)."""

    __slots__ = ("semaphore", "users")

    def __init__(self, size: int) -> None:
        self.semaphore = asyncio.Semaphore(size)
        self.users = 0


class Resolver:
    """Resolves handler hosts; ``open()`` inside the event loop first, ``close()`` at the end."""

    def __init__(self, timeout: float, total: int, per_app: int, nameservers: Sequence[str] | None = None) -> None:
        self._timeout = timeout
        self._per_app = per_app
        self._total_size = total
        self._nameservers = list(nameservers) if nameservers else None  # tests: a loopback server
        self._total: asyncio.Semaphore | None = None
        self._apps: dict[str, _AppSlots] = {}
        self._dns: aiodns.DNSResolver | None = None

    async def open(self) -> None:
        # Two tries of half the timeout each: a lost UDP packet is retried, and a
        # query we gave up on ends inside about one resolve timeout per server.
        self._dns = aiodns.DNSResolver(nameservers=self._nameservers, timeout=max(self._timeout / 2, 0.1), tries=2)
        self._total = asyncio.Semaphore(self._total_size)

    async def close(self) -> None:
        if self._dns is not None:
            await self._dns.close()
            self._dns = None

    @property
    def in_flight(self) -> dict[str, int]:
        """Lookups per app that hold or wait for a slot (for tests and debugging)."""
        return {app: slots.users for app, slots in self._apps.items()}

    async def resolve(self, app: str, host: str, port: int, within: float | None = None) -> list[IPAddress]:
        """The addresses of ``host``, within ``within`` seconds (default and cap: the resolve timeout)."""
        assert self._dns is not None and self._total is not None, "Resolver.open() first"
        limit = self._timeout if within is None else min(within, self._timeout)
        slots = self._apps.get(app)
        if slots is None:
            slots = self._apps[app] = _AppSlots(self._per_app)
        slots.users += 1
        held: list[asyncio.Semaphore] = []
        handed_over = False
        try:
            async with asyncio.timeout(max(limit, 0)):
                await slots.semaphore.acquire()
                held.append(slots.semaphore)
                await self._total.acquire()
                held.append(self._total)
                lookup = self._dns.getaddrinfo(host, port=port, type=socket.SOCK_STREAM)
                # From here the lookup owns the slots: they are freed when c-ares ends it.
                lookup.add_done_callback(lambda done: self._finished(done, app, slots, held))
                handed_over = True
                result = await asyncio.shield(lookup)
        except TimeoutError:
            waited = "waiting for a free lookup slot" if len(held) < 2 else "waiting for DNS"
            raise ResolveFailed(f"name resolution timed out after {limit:g}s ({waited})") from None
        except aiodns.error.DNSError as exc:
            code = exc.args[0] if exc.args else None
            raise ResolveFailed(f"name resolution failed: {_strerror(code)}") from None
        except (UnicodeError, ValueError, TypeError):
            raise ResolveFailed("name resolution failed: the host is not a valid name") from None
        finally:
            if not handed_over:
                self._finished(None, app, slots, held)
        addresses = []
        for node in result.nodes:
            raw = node.addr[0]
            text = raw.decode() if isinstance(raw, bytes) else str(raw)
            addresses.append(ipaddress.ip_address(text.split("%")[0]))
        if not addresses:
            raise ResolveFailed("name resolution failed: no address")
        return list(dict.fromkeys(addresses))

    def _finished(self, lookup: asyncio.Future[object] | None, app: str, slots: _AppSlots,
                  held: list[asyncio.Semaphore]) -> None:
        if lookup is not None and not lookup.cancelled():
            lookup.exception()  # retrieved, so an abandoned failure is not logged as never retrieved
        for semaphore in held:
            semaphore.release()
        held.clear()
        slots.users -= 1
        if slots.users == 0 and self._apps.get(app) is slots:
            del self._apps[app]


def _strerror(code: object) -> str:
    """c-ares's words for an error code (e.g. "Domain name not found"); they never contain an address."""
    if isinstance(code, int):
        try:
            return str(pycares.errno.strerror(code))
        except (ValueError, KeyError, TypeError):
            pass
    return f"error {code}"
