"""The connect page's WebSocket (DESIGN.md section 6) and the hub that feeds it from every instance.

One subscriber task per instance reads session events from Redis pub/sub (the channel and
encoding of `sessions.events`) (so events of sessions
owned by any instance arrive) and forwards them to the local sockets of that company. A new
socket gets the current state and, if any, the current QR at once. Connections are limited to
N per window per IP in Redis (holds across instances); the excess gets 429 before the upgrade.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from collections import defaultdict
from typing import Any

import redis.asyncio as aioredis
import structlog
from aiohttp import WSCloseCode, WSMsgType, web

from marketplace import keys
from marketplace.appkeys import MARKETPLACE
from marketplace.auth import PRINCIPAL, bearer
from marketplace.service import IntegrationInactive, MarketplaceService
from marketplace.tokens import TokenError
from marketplace.validation import json_error
from sessions.aio import CLOSE_TIMEOUT_S, close_within
from sessions.api import SessionEvent
from sessions.events import decode_event
from sessions.keys import events_channel
from sessions.runtime import Clock

log = structlog.get_logger(__name__)

_REVOCATION_STATES = frozenset({"LOGGED_OUT", "STOPPED"})  # what an uninstall or freeze leaves behind


class WsHub:
    """Local sockets by company, fed by the instance's Redis subscription."""

    def __init__(self, service: MarketplaceService) -> None:
        self._svc = service
        # company -> socket -> the connect token it authenticated with ("" for the operator)
        self._sockets: dict[int, dict[web.WebSocketResponse, str]] = defaultdict(dict)
        # Sockets still being greeted: events for them wait here so the greeting goes first.
        self._held: dict[web.WebSocketResponse, list[dict[str, Any]]] = {}
        self.subscribed = asyncio.Event()  # set while the Redis subscription is live
        self.close_timeout_s = CLOSE_TIMEOUT_S  # how long a cancelled `run` may spend letting go of Redis

    @property
    def count(self) -> int:
        """Open sockets on this instance."""
        return sum(len(s) for s in self._sockets.values())

    def add(self, company_id: int, ws: web.WebSocketResponse, token: str = "") -> None:
        """Register a socket; its events are held until `release` (after the greeting)."""
        self._sockets[company_id][ws] = token
        self._held[ws] = []

    async def release(self, ws: web.WebSocketResponse) -> None:
        """Send the events held during the greeting, in order, then deliver live."""
        held = self._held.get(ws)
        while held:
            await _send(ws, held.pop(0))
        self._held.pop(ws, None)

    def discard(self, company_id: int, ws: web.WebSocketResponse) -> None:
        group = self._sockets.get(company_id)
        if group is not None:
            group.pop(ws, None)
            self._held.pop(ws, None)
            if not group:
                del self._sockets[company_id]

    async def run(self, redis: aioredis.Redis) -> None:
        """Forward events of all instances to local sockets, until cancelled (resubscribes on errors)."""
        while True:
            pubsub = redis.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(events_channel(redis))
                self.subscribed.set()
                while True:
                    message = await pubsub.get_message(timeout=1.0)
                    if message is None or message.get("type") != "message":
                        continue
                    event = decode_event(message["data"])
                    if event is not None:
                        await self.dispatch(event)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - Redis hiccup: resubscribe
                log.warning("ws_hub_subscription_error", error=repr(exc))
                await asyncio.sleep(1.0)
            finally:
                self.subscribed.clear()
                await close_within(pubsub.aclose(), "ws_hub_pubsub", self.close_timeout_s)

    async def dispatch(self, event: SessionEvent) -> None:
        """Send one session event to the company's sockets on this instance."""
        sockets = list(self._sockets.get(event.company_id, ()))
        if not sockets:
            return
        if event.type == "state" and event.data.get("state") in _REVOCATION_STATES:
            sockets = await self._drop_revoked(event.company_id, sockets)
        message = await self.to_message(event)
        if message is None:
            return
        for ws in sockets:
            held = self._held.get(ws)
            if held is not None:
                held.append(message)
            else:
                await _send(ws, message)

    async def _drop_revoked(self, company_id: int, sockets: list[web.WebSocketResponse]) -> list[web.WebSocketResponse]:
        """Close sockets whose token was revoked (uninstall); returns the ones still valid."""
        group = self._sockets.get(company_id, {})
        alive = []
        for ws in sockets:
            token = group.get(ws, "")
            try:
                if token:
                    await self._svc.company_for_token(token)
                alive.append(ws)
            except TokenError:
                await _send(ws, {"type": "error", "code": "token_revoked",
                                 "message": "Ссылка больше не действует: приложение отключено в YClients"})
                await ws.close(code=WSCloseCode.POLICY_VIOLATION, message=b"token revoked")
                log.info("ws_closed_revoked", company_id=company_id)
        return alive

    async def to_message(self, event: SessionEvent) -> dict[str, Any] | None:
        """The section 6 message for a session event (QR strings rendered to PNG data URLs)."""
        d = event.data
        if event.type == "state":
            return {"type": "state", "state": d.get("state"), "reason": d.get("reason")}
        if event.type == "qr":
            raw = d.get("qr") or d.get("code")
            if not isinstance(raw, str) or not raw:
                return None
            if raw.startswith("data:image/"):
                url = raw
            else:
                url = await self._svc.qr.render(raw)
            return {"type": "qr", "qr": url, "expires_in": int(d.get("expires_in") or 0)}
        if event.type == "pairing_code":
            return {"type": "pairing_code", "code": d.get("code"), "expires_in": int(d.get("expires_in") or 0)}
        if event.type == "connected":
            return {"type": "connected", "phone": d.get("phone")}
        return None

    async def close_all(self) -> None:
        """Close every socket with GOING_AWAY (shutdown)."""
        sockets = [ws for group in self._sockets.values() for ws in list(group)]
        log.info("ws_closing_all", count=len(sockets))
        # Together: each close waits for the peer's close frame, so one by one would add those waits up.
        results = await asyncio.gather(
            *(ws.close(code=WSCloseCode.GOING_AWAY, message=b"server shutdown") for ws in sockets),
            return_exceptions=True,
        )
        for result in results:
            if isinstance(result, Exception):  # the peer may be gone already
                log.info("ws_close_failed", error=repr(result))


SEND_TIMEOUT_S = 5.0  # a peer that stops reading must not stall the hub (and every other salon's events)


async def _send(ws: web.WebSocketResponse, message: dict[str, Any], timeout_s: float | None = None) -> None:
    if ws.closed:
        return
    timeout_s = SEND_TIMEOUT_S if timeout_s is None else timeout_s
    try:
        # The frame is written at once; only the wait for the peer to drain the buffer can block.
        await asyncio.wait_for(ws.send_str(json.dumps(message, ensure_ascii=False)), timeout_s)
    except TimeoutError:
        log.info("ws_send_timed_out", timeout_s=timeout_s, message_type=message.get("type"))
    except (ConnectionError, RuntimeError) as exc:
        log.info("ws_send_failed", error=repr(exc))


def client_ip(request: web.Request, trust_forwarded: bool) -> str:
    """The caller's IP; behind our own proxy (`trust_forwarded`), the LAST X-Forwarded-For hop.

    The last hop is the address our proxy saw (nginx appends `$remote_addr`); earlier hops come
    from the client and are forgeable, so taking the first let anyone dodge the per-IP limit.
    """
    if trust_forwarded:
        forwarded = request.headers.get("X-Forwarded-For", "")
        hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
        if hops:
            return hops[-1][:64]
    return request.remote or "unknown"


async def allow_connection(redis: aioredis.Redis, clock: Clock, ip: str, *, limit: int, window_s: int) -> bool:
    """Sliding-window limit of WebSocket connections per IP, shared by all instances."""
    now = clock.time()
    key = keys.ws_rate(ip)
    member = f"{now:.6f}:{secrets.token_hex(6)}"
    async with redis.pipeline(transaction=True) as pipe:
        pipe.zremrangebyscore(key, "-inf", now - window_s)
        pipe.zadd(key, {member: now})
        pipe.zcard(key)
        pipe.expire(key, window_s + 1)
        results = await pipe.execute()
    if int(results[2]) > limit:
        await redis.zrem(key, member)  # a refused attempt does not use up the window
        return False
    return True


WS_HUB = web.AppKey("web_ws_hub", WsHub)
WS_ROUTE = "mp.token.ws"


@web.middleware
async def ws_rate_middleware(request: web.Request, handler: Any) -> web.StreamResponse:
    """Count every WebSocket attempt per IP (before authentication, so token guessing is limited too)."""
    if request.match_info.route.name != WS_ROUTE:
        return await handler(request)
    svc = request.app[MARKETPLACE]
    cfg = svc.config
    ip = client_ip(request, cfg.trust_forwarded_for)
    if not await allow_connection(svc.redis, svc.clock, ip, limit=cfg.ws_connects_per_window, window_s=cfg.ws_window_s):
        log.info("request_rejected", path=request.path, status=429, why="websocket rate limit", remote=ip)
        raise json_error(web.HTTPTooManyRequests, "rate_limited",
                         f"At most {cfg.ws_connects_per_window} connections per {cfg.ws_window_s} s",
                         headers={"Retry-After": str(cfg.ws_window_s)})
    return await handler(request)


async def websocket(request: web.Request) -> web.StreamResponse:
    """`GET /marketplace/ws?token=`."""
    svc = request.app[MARKETPLACE]
    cfg = svc.config
    company_id = request[PRINCIPAL].company_id
    if company_id is None:
        raise json_error(web.HTTPBadRequest, "token_required", "The WebSocket needs a salon token")
    hub = request.app[WS_HUB]
    ws = web.WebSocketResponse(heartbeat=cfg.ws_heartbeat_s, max_msg_size=4096)
    await ws.prepare(request)
    token = "" if request[PRINCIPAL].is_admin else (bearer(request) or request.query.get("token", ""))
    hub.add(company_id, ws, token)
    log.info("ws_connected", company_id=company_id)
    try:
        try:
            await _greet(svc, hub, company_id, ws)
        finally:
            await hub.release(ws)
        async for msg in ws:
            if msg.type == WSMsgType.TEXT:
                await _on_client_message(svc, company_id, ws, msg.data)
            elif msg.type == WSMsgType.ERROR:
                break
    finally:
        hub.discard(company_id, ws)
        log.info("ws_closed", company_id=company_id)
    return ws


async def _greet(svc: MarketplaceService, hub: WsHub, company_id: int, ws: web.WebSocketResponse) -> None:
    company = await svc.store.get(company_id)
    if company is not None:
        await svc.ensure_session(company)
    info = await svc.sessions.info(company_id)
    await _send(ws, {"type": "state", "state": info.state.value, "reason": info.reason})
    if info.connected:
        await _send(ws, {"type": "connected", "phone": info.phone})
        return
    current = await svc.current_qr(company_id)
    if current is not None:
        await _send(ws, {"type": "qr", "qr": current[0], "expires_in": current[1]})


async def _on_client_message(svc: MarketplaceService, company_id: int, ws: web.WebSocketResponse, data: str) -> None:
    try:
        msg = json.loads(data)
    except ValueError:
        msg = None
    if not isinstance(msg, dict):
        await _send(ws, {"type": "error", "code": "invalid_json", "message": "Messages must be JSON objects"})
        return
    kind = msg.get("type")
    try:
        if kind == "request_qr":
            info = await svc.sessions.info(company_id)
            if info.connected:
                await _send(ws, {"type": "connected", "phone": info.phone})
                return
            await svc.require_live(company_id)
            current = await svc.current_qr(company_id)
            if current is None:
                await svc.start_guarded(company_id, lambda: svc.sessions.request_qr(company_id))
                current = await svc.current_qr(company_id)
            if current is not None:
                await _send(ws, {"type": "qr", "qr": current[0], "expires_in": current[1]})
        elif kind == "request_pairing_code":
            from marketplace.validation import phone_e164

            try:
                phone = phone_e164(msg.get("phone"))
            except web.HTTPBadRequest:
                await _send(ws, {"type": "error", "code": "invalid_phone",
                                 "message": "Телефон в формате +79001234567"})
                return
            code, expires_in = await svc.start_guarded(
                company_id, lambda: svc.sessions.request_pairing_code(company_id, phone))
            await _send(ws, {"type": "pairing_code", "code": code, "expires_in": int(expires_in)})
        else:
            await _send(ws, {"type": "error", "code": "unknown_type", "message": "Unknown message type"})
    except IntegrationInactive as exc:
        log.info("ws_request_refused", company_id=company_id, request=str(kind)[:32], why=str(exc))
        await _send(ws, {"type": "error", "code": exc.code, "message": exc.message})
    except Exception as exc:  # noqa: BLE001 - report to the page, keep the socket
        log.info("ws_request_failed", company_id=company_id, request=str(kind)[:32], error=repr(exc))
        await _send(ws, {"type": "error", "code": "unavailable", "message": "Не получилось, попробуйте ещё раз"})
