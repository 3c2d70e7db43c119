"""structlog configuration shared by the daemon (gateway.logging) and the engine worker process.

One place builds the processor chain, so both processes redact secrets the same way. Configure it
before importing neonize: `import neonize` calls `logging.basicConfig`, which is a no-op once the
root logger has handlers.
"""

from __future__ import annotations

import logging
import re
import sys
from typing import Any

import structlog

_SECRET_KEYS = re.compile(r"(token|secret|password|api_key|apikey|authorization|sign)", re.IGNORECASE)


def redact(value: str) -> str:
    """`sk_abcd…` style: enough to recognise a credential, never enough to use it."""
    return value[:4] + "…" if len(value) > 8 else "…"


def redact_secrets(_: Any, __: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    """structlog processor: values of secret-looking keys keep only a short prefix."""
    for key, value in list(event_dict.items()):
        if key != "event" and _SECRET_KEYS.search(key) and isinstance(value, str) and value:
            event_dict[key] = redact(value)
    return event_dict


def configure_structlog(level: str = "INFO", fmt: str = "console") -> None:
    """Route stdlib logging and structlog through one renderer on stderr.

    `fmt` is "json" (one JSON object a line) or "console" (coloured on a terminal).
    """
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        redact_secrets,
    ]
    renderer: Any
    if fmt == "json":
        renderer = structlog.processors.JSONRenderer(ensure_ascii=False)
        shared.append(structlog.processors.format_exc_info)
    else:
        renderer = structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
