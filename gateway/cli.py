"""`ai-admin`: the command line (serve, migrate, version, and each package's operations commands)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence

from gateway import __version__
from gateway.commands import COMMAND_MODULES
from gateway.logging import configure_logging
from gateway.settings import InsecureSettings, Settings


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand."""
    parser = argparse.ArgumentParser(prog="ai-admin", description="AI Admin gateway daemon")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the daemon")
    serve.add_argument("--demo", action="store_true", help="demo mode: simulator WhatsApp, sandbox YClients")
    serve.add_argument("--port", type=int, default=None, help="listen on this port (default PORT or 8080)")
    serve.add_argument("--host", default=None, help="listen on this address (default HOST or 0.0.0.0)")
    serve.set_defaults(func=_serve)

    migrate = sub.add_parser("migrate", help="apply database migrations and exit")
    migrate.set_defaults(func=_migrate)

    version = sub.add_parser("version", help="print the version")
    version.set_defaults(func=lambda args, settings: print(f"ai-admin {__version__}") or 0)

    for module in COMMAND_MODULES:
        module.register(sub)
    return parser


def load_settings(args: argparse.Namespace) -> Settings:
    """Settings from the environment, with command-line overrides."""
    overrides: dict[str, object] = {}
    if getattr(args, "demo", False):
        overrides["demo"] = True
    if getattr(args, "port", None) is not None:
        overrides["port"] = args.port
    if getattr(args, "host", None) is not None:
        overrides["host"] = args.host
    return Settings(**overrides)  # type: ignore[arg-type]


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    from aiohttp import web

    from gateway.app import create_app

    app = create_app(settings)
    web.run_app(
        app,
        host=settings.host,
        port=settings.port,
        print=None,
        shutdown_timeout=settings.shutdown_grace_s,
        access_log=None,
    )
    return 0


def _migrate(args: argparse.Namespace, settings: Settings) -> int:
    from gateway.cli_support import open_stores

    async def run() -> list[int]:
        async with open_stores(settings, redis=False) as stores:
            from gateway import db

            async with stores.pool.acquire() as conn:
                return await db.migrate(conn)

    applied = asyncio.run(run())
    print(f"applied migrations: {applied}" if applied else "schema is up to date")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `ai-admin` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    settings = load_settings(args)
    configure_logging(settings.log_level, settings.log_format)
    try:
        result = args.func(args, settings)
    except InsecureSettings as exc:
        print(f"ai-admin: {exc}", file=sys.stderr)
        return 2
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
