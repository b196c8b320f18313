"""pg-workflow [DATABASE_URL] [--host/-H 0.0.0.0] [--port/-p 3042] [--data-dir DIR]"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from . import config, logging_setup, migrate, timeouts
from .app import make_app
from .config import ConfigError, Settings
from .embedded import EmbeddedPostgres
from .migrate import StartupError
from .validate import MAX_REQUEST_LINE

log = logging.getLogger("pg_workflow")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="pg-workflow",
        description="PostgreSQL-native backend for the Workflow DevKit. Without a database URL "
        "(argument or DATABASE_URL) it starts a private PostgreSQL cluster in --data-dir.",
        epilog=config.help_text(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    option = config.BY_ENV
    parser.add_argument("database_url", nargs="?",
                        help=f"PostgreSQL URL (default: $DATABASE_URL, else {option['DATABASE_URL'].show_default()})")
    parser.add_argument("-H", "--host", help=f"listen address (default: $HOST or {option['HOST'].show_default()})")
    parser.add_argument("-p", "--port", type=int,
                        help=f"listen port (default: $PORT or {option['PORT'].show_default()})")
    parser.add_argument("--data-dir", type=Path,
                        help=f"embedded cluster directory (default: $PGW_DATA_DIR or "
                        f"{option['PGW_DATA_DIR'].show_default()})")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    try:
        settings = Settings.from_env(database_url=args.database_url, host=args.host, port=args.port,
                                     data_dir=args.data_dir)
        settings.tenancy()  # a mode that contradicts the environment stops us before anything starts
    except ConfigError as exc:
        print(f"pg-workflow: invalid configuration: {exc}", file=sys.stderr)
        sys.exit(2)
    logging_setup.configure(settings.log_level, settings.log_format)
    embedded: EmbeddedPostgres | None = None
    try:
        url = settings.database_url
        if url is None:
            embedded = EmbeddedPostgres(settings.data_dir)
            url = embedded.start()
        try:
            app = make_app(settings, url)  # reads the dispatcher's options too: bad values stop us here
        except ValueError as exc:  # ConfigError, or a value only its module can check (e.g. a CIDR list)
            raise ConfigError(str(exc)) from None
        migrate.deploy(url)
        log.info("pg-workflow listening on http://%s:%s", settings.host, settings.port)
        timeouts.run(app, settings.host, settings.port, settings.header_timeout,
                     max_line_size=MAX_REQUEST_LINE)  # long ids, percent-encoded, still reach validation
    except ConfigError as exc:
        print(f"pg-workflow: invalid configuration: {exc}", file=sys.stderr)
        sys.exit(2)
    except StartupError as exc:
        print(f"pg-workflow: {exc}", file=sys.stderr)
        sys.exit(2)
    finally:
        if embedded is not None:
            embedded.stop()


if __name__ == "__main__":
    main()
