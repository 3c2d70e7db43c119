"""`ai-admin sessions` commands."""

from __future__ import annotations

import argparse
from typing import Any


def register(sub: "argparse._SubParsersAction[Any]") -> None:
    """Add the `sessions` subcommand."""
