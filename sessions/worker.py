"""An engine worker process: `python -m sessions.worker` (DESIGN.md section 7, "Engine workers").

It hosts up to `capacity` transports built by `sessions.factory` and speaks the line protocol of
`sessions.wire` with its parent over stdin/stdout; its logs go to stderr as JSON. Our logging is
configured BEFORE anything imports neonize (`import neonize` calls `logging.basicConfig`), and fd 1
is pointed at stderr so stray prints from libraries can never corrupt the protocol stream.
The worker exits cleanly when stdin closes (the parent died or asked it to go).

Configuration comes from the environment: ``AIAD_ENGINE_CONFIG`` (EngineConfig JSON),
``AIAD_WORKER_CAPACITY``, ``AIAD_WORKER_HEARTBEAT_S``, ``AIAD_WORKER_ID``, ``LOG_LEVEL``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from collections.abc import Callable

import structlog

from sessions.logsetup import configure_structlog

CONFIG_ENV = "AIAD_ENGINE_CONFIG"
CAPACITY_ENV = "AIAD_WORKER_CAPACITY"
HEARTBEAT_ENV = "AIAD_WORKER_HEARTBEAT_S"
WORKER_ID_ENV = "AIAD_WORKER_ID"


def configure_worker_logging(level: str = "INFO") -> None:
    """JSON logs on stderr, secrets redacted like the daemon's; must run before neonize is imported."""
    configure_structlog(level, "json")


def main() -> None:
    """Entry point of the worker process."""
    configure_worker_logging(os.environ.get("LOG_LEVEL", "INFO"))
    # The protocol gets a private copy of stdout; fd 1 itself now writes to stderr.
    proto_fd = os.dup(1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    out = os.fdopen(proto_fd, "wb", buffering=0)

    from sessions.factory import EngineConfig, build_transport_factory  # after logging (neonize)
    from sessions.worker_host import WorkerHost

    structlog.contextvars.bind_contextvars(worker=os.environ.get(WORKER_ID_ENV, str(os.getpid())))
    config = EngineConfig.from_json(os.environ.get(CONFIG_ENV, "{}"))
    capacity = int(os.environ.get(CAPACITY_ENV, "50"))
    heartbeat_s = float(os.environ.get(HEARTBEAT_ENV, "5"))
    log = structlog.get_logger("sessions.worker")
    log.info("worker_starting", provider=config.provider, capacity=capacity, pid=os.getpid())

    def write(data: bytes) -> None:
        out.write(data)

    async def run() -> None:
        factory = build_transport_factory(config)
        host = WorkerHost(factory, capacity=capacity, write=write, heartbeat_s=heartbeat_s)
        reader = await _stdin_reader()
        await host.serve(reader)

    code = 0
    try:
        asyncio.run(run())
    except KeyboardInterrupt:
        pass
    except BaseException as exc:
        log.error("worker_crashed", error=repr(exc), exc_info=exc)
        code = 1
    log.info("worker_exited", pid=os.getpid(), code=code)
    logging.shutdown()
    # Threads of a native library (neonize) must not keep a parentless worker alive.
    os._exit(code)


async def _stdin_reader() -> asyncio.StreamReader:
    from sessions.wire import MAX_LINE_BYTES

    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=MAX_LINE_BYTES + 2)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin.buffer)
    return reader


Writer = Callable[[bytes], None]

if __name__ == "__main__":
    main()
