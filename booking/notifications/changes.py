"""Notices when the SALON creates, moves or cancels a booking.

The sync package keeps only the latest state of each record, so changes are found by comparing
it with our own snapshot (`notification_snapshots`: record -> fingerprint of date/time, master,
the SET of service ids and cancelled). A reordered service list has the same fingerprint, so it is
never a change. One notice per new state (claim kind `change:<fingerprint>`). Changes the bot made
itself (api_id prefix, booking's `bookings` rows, the bot's comment marker, or booking's log of its
own moves and cancellations of any record, the salon's own ones too) update the snapshot silently.
The first scan of a company only takes the snapshot.

A "created" notice goes only for visits within `created_notice_days`: records far ahead first
appear when they enter sync's window, which is not the moment they were made.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import structlog

from booking.notifications import texts
from booking.notifications.config import NotificationsConfig
from booking.notifications.planner import DAY_BEFORE, TWO_HOURS, day_before_due, fingerprint, soon_due
from booking.notifications.sender import Notifier, RecordSource, SalonContext, chat_of, digits
from booking.notifications.store import NotificationStore, Snapshot

log = structlog.get_logger(__name__)

HORIZON = timedelta(days=400)


def snapshot_of(r: Any) -> Snapshot:
    cancelled = bool(r.deleted or r.attendance == -1)
    services = tuple(sorted({int(s) for s in r.service_ids}))
    return Snapshot(
        int(r.record_id),
        fingerprint(r.starts_at, r.staff_id, services, cancelled),
        r.starts_at,
        r.staff_id,
        services,
        cancelled,
    )


class ChangeNotices:
    """One salon's change scan."""

    def __init__(
        self, store: NotificationStore, source: RecordSource, notifier: Notifier, cfg: NotificationsConfig
    ) -> None:
        self.store = store
        self.source = source
        self.notifier = notifier
        self.cfg = cfg

    async def run(self, ctx: SalonContext, now: datetime) -> int:
        """Compare the synced records with the snapshots; notify salon-made changes. Queued count."""
        cid = ctx.company_id
        if self.cfg.quiet.contains(now.astimezone(ctx.tz)):
            return 0  # found (and told) in the morning; the snapshot keeps the pre-night state
        baseline = await self.store.has_baseline(cid)
        snaps = await self.store.snapshots(cid)
        sent = 0
        seen: set[int] = set()
        changed: list[Snapshot] = []  # saved in one batch (a first scan snapshots the whole book)
        for r in await self.source.records_between(cid, now, now + HORIZON):
            seen.add(int(r.record_id))
            sent += await self._compare(ctx, r, snaps.get(int(r.record_id)), now, baseline, changed)
        for record_id, prev in snaps.items():
            if record_id in seen or prev.cancelled or (prev.starts_at is not None and prev.starts_at <= now):
                continue
            r = await self.source.record(cid, record_id)  # deleted, or moved out of the window
            if r is not None:
                sent += await self._compare(ctx, r, prev, now, baseline, changed)
        await self.store.save_snapshots(cid, changed, now)
        await self.store.prune_snapshots(cid, now - timedelta(days=1))
        if not baseline:
            await self.store.set_baseline(cid, now)
        return sent

    async def _compare(
        self,
        ctx: SalonContext,
        r: Any,
        prev: Snapshot | None,
        now: datetime,
        baseline: bool,
        changed: list[Snapshot],
    ) -> int:
        snap = snapshot_of(r)
        if prev is not None and prev.fingerprint == snap.fingerprint:
            return 0
        if prev is not None and prev.starts_at != snap.starts_at and not snap.cancelled:
            await self.store.archive_reminders(ctx.company_id, snap.record_id)  # the new time gets reminders
        sent = 0
        kind = self._kind(prev, snap, now)
        if baseline and kind is not None and r.starts_at is not None and r.starts_at > now:
            if await self._by_bot(ctx.company_id, r, prev, snap, kind):
                log.info("change_by_bot", company_id=ctx.company_id, record_id=snap.record_id, change=kind)
            elif digits(r.client_phone):
                today = now.astimezone(ctx.tz).date()
                visit = ctx.visit(r)
                name = r.client_name
                text = {"created": texts.created, "moved": texts.moved, "cancelled": texts.cancelled}[kind](
                    visit, name, today
                )
                if await self.notifier.send(
                    ctx.company_id, r, f"change:{snap.fingerprint}", text, now, outbox_kind="notice"
                ):
                    sent = 1
                    log.info(
                        "change_notified", company_id=ctx.company_id, record_id=snap.record_id, change=kind
                    )
                    if kind != "cancelled":
                        await self._cover_due_reminders(ctx, r, now)
        changed.append(snap)
        return sent

    async def _cover_due_reminders(self, ctx: SalonContext, r: Any, now: datetime) -> None:
        """The notice just told the client the time: a reminder due right now would repeat it."""
        phone = digits(r.client_phone)
        for kind, due in ((DAY_BEFORE, day_before_due), (TWO_HOURS, soon_due)):
            if due(r.starts_at, now, ctx.tz, self.cfg):
                claim_id = await self.store.claim(
                    ctx.company_id, int(r.record_id), kind, "+" + phone, chat_of(phone), r.starts_at, now
                )
                if claim_id is not None:
                    await self.store.mark_covered(claim_id, now)

    def _kind(self, prev: Snapshot | None, snap: Snapshot, now: datetime) -> str | None:
        if prev is None:
            if snap.cancelled or snap.starts_at is None:
                return None
            if snap.starts_at > now + timedelta(days=self.cfg.created_notice_days):
                return None
            return "created"
        if snap.cancelled:
            return None if prev.cancelled else "cancelled"
        return "created" if prev.cancelled else "moved"

    async def _by_bot(
        self, company_id: int, r: Any, prev: Snapshot | None, snap: Snapshot, kind: str
    ) -> bool:
        if kind != "created":
            # Who made a record says nothing about who moved or cancelled it: a salon that moves a
            # visit the bot booked must still tell the client. Only the bot's own log silences it.
            return await self._bot_logged(company_id, prev, snap, kind)
        if self.cfg.bot_api_id_prefix and str(r.api_id or "").startswith(self.cfg.bot_api_id_prefix):
            return True
        if self.cfg.bot_comment_marker and self.cfg.bot_comment_marker in str(r.comment or ""):
            return True
        return await self.store.made_by_bot(company_id, snap.record_id)

    async def _bot_logged(self, company_id: int, prev: Snapshot | None, snap: Snapshot, kind: str) -> bool:
        """Is this exactly a change the bot logged after the previous state was seen? A move is the
        bot's only when nothing but the time changed and it is the time the bot moved the visit to;
        a later salon change (even back to that time) has no log entry after its previous state."""
        if prev is None:
            return False
        if kind == "cancelled":
            return await self.store.bot_changed(company_id, snap.record_id, "cancelled", None, prev.seen_at)
        if (
            kind == "moved"
            and snap.starts_at is not None
            and prev.staff_id == snap.staff_id
            and prev.service_ids == snap.service_ids
        ):
            return await self.store.bot_changed(
                company_id, snap.record_id, "moved", snap.starts_at, prev.seen_at
            )
        return False
