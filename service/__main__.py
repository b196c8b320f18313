"""pg-workflow [DATABASE_URL] [--host/-H 0.0.0.0] [--port/-p 3042]"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from aiohttp import web

from . import migrate
from .app import make_app
from .config import Settings
from .embedded import EmbeddedPostgres
from .migrate import StartupError
from .validate import MAX_REQUEST_LINE

log = logging.getLogger("pg_workflow")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="pg-workflow",
        description="PostgreSQL-native backend for the Workflow DevKit. Without a database URL "
        "(argument or DATABASE_URL) it starts a private PostgreSQL cluster in --data-dir.",
    )
    parser.add_argument("database_url", nargs="?", help="PostgreSQL URL (default: $DATABASE_URL, else embedded)")
    parser.add_argument("-H", "--host", help="listen address (default: $HOST or 0.0.0.0)")
    parser.add_argument("-p", "--port", type=int, help="listen port (default: $PORT or 3042)")
    parser.add_argument("--data-dir", type=Path, help="embedded cluster directory (default: $PGW_DATA_DIR)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    logging.basicConfig(
        level=os.environ.get("LOG_LEVEL", "INFO").upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    settings = Settings.from_env(database_url=args.database_url, host=args.host, port=args.port,
                                 data_dir=args.data_dir)
    embedded: EmbeddedPostgres | None = None
    try:
        url = settings.database_url
        if url is None:
            embedded = EmbeddedPostgres(settings.data_dir)
            url = embedded.start()
        migrate.deploy(url)
        access_log = logging.getLogger("aiohttp.access")
        if os.environ.get("WF_ACCESS_LOG", "true").lower() in ("0", "false", "no", "off"):
            access_log.setLevel(logging.WARNING)
        log.info("pg-workflow listening on http://%s:%s", settings.host, settings.port)
        web.run_app(make_app(settings, url), host=settings.host, port=settings.port, print=None,
                    access_log=access_log, handle_signals=True,
                    max_line_size=MAX_REQUEST_LINE)  # long ids, percent-encoded, still reach validation
    except StartupError as exc:
        print(f"pg-workflow: {exc}", file=sys.stderr)
        sys.exit(2)
    finally:
        if embedded is not None:
            embedded.stop()


if __name__ == "__main__":
    main()
