"""structlog configuration of the daemon: a console renderer on a terminal, JSON with LOG_FORMAT=json.

The processor chain (with secret redaction) is sessions.logsetup's, shared with the engine worker
process. Configure this before importing neonize: `import neonize` calls `logging.basicConfig`,
which is a no-op once the root logger has handlers.
"""

from __future__ import annotations

import logging

from sessions.logsetup import configure_structlog, redact

__all__ = ["configure_logging", "redact"]


def configure_logging(level: str = "INFO", fmt: str = "console") -> None:
    """Route stdlib logging and structlog through one renderer; quiet the chatty libraries."""
    configure_structlog(level, fmt)
    root = logging.getLogger()
    for noisy in ("aiohttp.access", "apscheduler", "asyncio"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
