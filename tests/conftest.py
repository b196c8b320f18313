"""Fixtures: a migrated template database, fresh clones of it, and real
pg-workflow processes serving HTTP on them."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator

import aiohttp
import pytest

from service import migrate

from .pgw import Service, create_database, db_url, drop_database


@pytest.fixture(scope="session")
def template_db() -> Iterator[str]:
    """A database deployed once with sqitch; tests clone it."""
    name = create_database(prefix="pgw_tmpl")
    try:
        migrate.deploy(db_url(name))
        yield name
    finally:
        drop_database(name)


@pytest.fixture
def fresh_db(template_db: str) -> Iterator[str]:
    """The URL of a new, migrated, empty database, dropped after the test."""
    name = create_database(template_db)
    try:
        yield db_url(name)
    finally:
        drop_database(name)


@pytest.fixture
def start_service(template_db: str) -> Iterator[Callable[..., Service]]:
    """start_service(database_url=None, **env) -> a running Service; all stopped after the test."""
    started: list[Service] = []
    created: list[str] = []

    def start(database_url: str | None = None, **env: str) -> Service:
        if database_url is None:
            created.append(create_database(template_db))
            database_url = db_url(created[-1])
        service = Service(database_url, env=env)
        started.append(service)
        return service.start()

    yield start
    for service in started:
        service.stop()
    for name in created:
        drop_database(name)


@pytest.fixture(scope="session")
def pgw_server(template_db: str) -> Iterator[Service]:
    """One pg-workflow (dispatcher enabled) on its own database, shared by the session."""
    name = create_database(template_db)
    service = Service(db_url(name))
    try:
        yield service.start()
    finally:
        service.stop()
        drop_database(name)


@pytest.fixture
async def client(pgw_server: Service) -> AsyncIterator[aiohttp.ClientSession]:
    """An HTTP client whose base URL is the shared server's default app: client.get("runs")."""
    async with aiohttp.ClientSession(base_url=pgw_server.url + "/api/v1/apps/default/") as session:
        yield session
