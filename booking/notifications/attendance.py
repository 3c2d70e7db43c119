"""Confirming a visit in YClients (attendance 2), now or on a later tick when YClients was down."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

import structlog

from booking.notifications.sender import RecordSource
from booking.notifications.store import REMINDER_KINDS, NotificationStore

log = structlog.get_logger(__name__)

CONFIRM_COMMENT = "Клиент подтвердил визит (WhatsApp)"
CONFIRMED = "confirmed"
PENDING = "confirm_pending"  # the client said yes; YClients has not been told yet


class AttendanceClient(Protocol):
    """What confirming needs of YClients (sync.client.YClientsClient satisfies it)."""

    async def record(self, salon_id: int, record_id: int) -> Any: ...

    async def set_attendance(
        self, visit_id: int, record_id: int, attendance: int, comment: str = ""
    ) -> None: ...


async def set_confirmed(client: AttendanceClient, salon_id: int, record: Any) -> None:
    """PUT attendance 2 on the record's visit (looked up in YClients when the sync has no visit id)."""
    visit_id = record.visit_id
    if visit_id is None:
        visit_id = (await client.record(salon_id, int(record.record_id))).visit_id
    if visit_id is None:
        raise LookupError("record has no visit id")
    await client.set_attendance(int(visit_id), int(record.record_id), 2, CONFIRM_COMMENT)


async def retry_pending(
    store: NotificationStore,
    source: RecordSource,
    client: AttendanceClient,
    company_id: int,
    salon_id: int,
    now: datetime,
) -> int:
    """Tell YClients the confirmations it missed (visits not started yet); how many went through."""
    done = 0
    for record_id in await store.records_with_answer(company_id, PENDING, now):
        record = await source.record(company_id, record_id)
        if record is None or record.deleted or record.attendance == -1:
            await store.change_answer(company_id, record_id, REMINDER_KINDS, PENDING, "confirm_dropped")
            continue
        try:
            await set_confirmed(client, salon_id, record)
        except Exception as exc:  # noqa: BLE001 - transient or not, the next tick tries again until the visit starts
            log.warning(
                "visit_confirm_retry_failed", company_id=company_id, record_id=record_id, error=repr(exc)
            )
            continue
        await store.change_answer(company_id, record_id, REMINDER_KINDS, PENDING, CONFIRMED)
        log.info("visit_confirmed", company_id=company_id, record_id=record_id, retried=True)
        done += 1
    return done
