"""A small file-backed transport hosted in real worker processes by the worker tests.

Provider string: ``tests.sessions.worker_fakes:make_factory``; `EngineConfig.extra["dir"]` is a
directory shared with the test: ``paired-<company>`` marks a paired device (a start resumes it and
emits Connected, otherwise a QrCode), ``sent-<company>.jsonl`` records sent texts.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from sessions.factory import EngineConfig
from sessions.transport import Connected, LoggedOut, NotConnectedError, PairingCode, QrCode, TransportEvent


class FileTransport:
    def __init__(self, company_id: int, root: Path) -> None:
        self.company_id = company_id
        self._root = root
        self._queue: asyncio.Queue[Any] = asyncio.Queue()
        self._connected = False

    async def start(self) -> None:
        if (self._root / f"paired-{self.company_id}").exists():
            self._connected = True
            self._queue.put_nowait(Connected(jid=f"7900{self.company_id}:1@s.whatsapp.net", phone=f"+7900{self.company_id}"))
        else:
            self._queue.put_nowait(QrCode(code=f"qr-{self.company_id}-{os.getpid()}", expires_in_s=60.0,
                                          issued_at=0.0, index=0))

    def use_stored_jid(self, jid: str) -> None:
        (self._root / f"hint-{self.company_id}").write_text(jid)

    async def request_pairing_code(self, phone: str) -> PairingCode:
        return PairingCode(code="ABCD-EFGH", expires_in_s=60.0)

    async def send_text(self, chat: str, text: str, message_id: str | None = None) -> str:
        if not self._connected:
            raise NotConnectedError("not paired")
        mid = message_id or f"m{os.urandom(4).hex()}"
        with open(self._root / f"sent-{self.company_id}.jsonl", "a") as fh:  # noqa: ASYNC230 - a tiny local file
            fh.write(json.dumps({"chat": chat, "text": text, "id": mid, "pid": os.getpid()}) + "\n")
        return mid

    async def send_typing(self, chat: str, typing: bool = True) -> None:
        return None

    async def mark_read(self, chat: str, message_ids: list[str], sender: str) -> None:
        return None

    async def logout(self) -> None:
        (self._root / f"paired-{self.company_id}").unlink(missing_ok=True)
        self._connected = False
        self._queue.put_nowait(LoggedOut(reason="logged_out"))

    async def stop(self) -> None:
        self._queue.put_nowait(None)

    async def events(self) -> AsyncIterator[TransportEvent]:
        while True:
            item = await self._queue.get()
            if item is None:
                return
            yield item


class FileTransportFactory:
    def __init__(self, root: Path) -> None:
        self._root = root
        self.connects = 0

    def create(self, company_id: int) -> FileTransport:
        self.connects += 1
        return FileTransport(company_id, self._root)

    async def forget(self, company_id: int) -> None:
        (self._root / f"paired-{company_id}").unlink(missing_ok=True)


def make_factory(config: EngineConfig) -> FileTransportFactory:
    return FileTransportFactory(Path(config.extra["dir"]))
