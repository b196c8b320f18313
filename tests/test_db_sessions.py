"""The service's database sessions: settings made once per pooled connection."""

from __future__ import annotations

from service.db import Database, Limits


async def test_pooled_connections_run_without_jit_and_with_the_request_limits(fresh_db: str) -> None:
    db = Database(fresh_db, min_size=1, max_size=2, limits=Limits(statement_timeout=7, lock_timeout=3))
    await db.open()
    try:
        async with db.pool.connection() as conn:  # tenant connections
            row = await (await conn.execute("SELECT current_setting('jit'), current_user, "
                                            "current_setting('statement_timeout'), "
                                            "current_setting('lock_timeout')")).fetchone()
            assert row == ("off", "pgw_tenant", "7s", "3s")
        async with db.admin_pool.connection() as conn:  # dispatcher claims, acks, jobs
            row = await (await conn.execute("SELECT current_setting('jit')")).fetchone()
            assert row == ("off",)
    finally:
        await db.close()
