"""Operations subcommands of `ai-admin`, one module per package.

Each module has `register(subparsers)`, adding parsers whose `func(args, settings) -> int` runs
the command.
"""

from __future__ import annotations

from types import ModuleType

from gateway.commands import companies, sessions, sync, understand

COMMAND_MODULES: list[ModuleType] = [sessions, sync, understand, companies]
