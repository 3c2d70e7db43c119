"""Redis key names of the sessions engine (the only place they are spelled)."""

from __future__ import annotations

from typing import Any

# Pub/sub channels are server-wide in Redis (they ignore the logical db), so each channel name
# carries the db index: deployments or test runs sharing one server on different dbs stay apart.


def db_index(redis: Any) -> int:
    """The logical db a redis-py client is bound to."""
    return int(redis.connection_pool.connection_kwargs.get("db") or 0)


def events_channel(redis: Any) -> str:
    """Pub/sub: JSON SessionEvent of every instance."""
    return f"sessions:events:{db_index(redis)}"


def control_channel(redis: Any) -> str:
    """Pub/sub: {"company_id", "action"} from the CLI (or another instance) to running daemons."""
    return f"sessions:control:{db_index(redis)}"


def sim_wake_channel(redis: Any) -> str:
    """Pub/sub: a company id whose simulator phone side has news."""
    return f"sim:wake:{db_index(redis)}"


def current_qr(company_id: int) -> str:
    """The seed's key: `{qr, generated_at, expires_at}` JSON, TTL = the QR's remaining validity."""
    return f"marketplace:qr:{company_id}"


def lease(company_id: int) -> str:
    """Which instance owns the session (value: instance id + epoch)."""
    return f"sessions:lease:{company_id}"


def lease_epoch(company_id: int) -> str:
    """Monotonic fencing counter for the session lease."""
    return f"sessions:lease-epoch:{company_id}"


def outbox_rate(company_id: int) -> str:
    """Sliding window of send timestamps for the per-session rate limit."""
    return f"sessions:outbox-rate:{company_id}"


def chat_rate(company_id: int, chat: str) -> str:
    """Last send time to one chat (1 message/s per chat)."""
    return f"sessions:chat-rate:{company_id}:{chat}"


def handoff(company_id: int, chat: str) -> str:
    """Set while the salon's staff handle a chat by hand (bot paused); TTL = the pause."""
    return f"sessions:handoff:{company_id}:{chat}"


def sim_prefix(company_id: int) -> str:
    """Prefix of the simulator's phone-side keys for one company."""
    return f"sim:{company_id}"




def sim_commands(company_id: int) -> str:
    """Simulator: queued phone-side commands (scan, pairing confirm, faults), JSON list."""
    return f"{sim_prefix(company_id)}:commands"


def sim_inbox(company_id: int) -> str:
    """Simulator: messages clients wrote, waiting for the session to be connected (JSON list)."""
    return f"{sim_prefix(company_id)}:inbox"


def sim_qr(company_id: int) -> str:
    """Simulator: the QR the phone can scan right now (TTL = its validity)."""
    return f"{sim_prefix(company_id)}:qr"


def sim_pairing(company_id: int) -> str:
    """Simulator: the pairing code waiting to be typed on the phone (JSON {code, phone})."""
    return f"{sim_prefix(company_id)}:pairing"


def sim_outbound(company_id: int) -> str:
    """Simulator: what the bot sent (JSON list, newest last, bounded)."""
    return f"{sim_prefix(company_id)}:outbound"


def sim_sent_ids(company_id: int) -> str:
    """Simulator: WhatsApp message ids already delivered (the receiver's dedupe)."""
    return f"{sim_prefix(company_id)}:sent-ids"


def sim_send_calls(company_id: int) -> str:
    """Simulator: every send_text call that reached a connected session, duplicates included
    (JSON list, bounded): what tests count to prove nothing was sent twice."""
    return f"{sim_prefix(company_id)}:send-calls"


def sim_send_hold(company_id: int) -> str:
    """Simulator: chats whose sends hang (hash chat -> 'before' | 'after' delivery), a test hook."""
    return f"{sim_prefix(company_id)}:send-hold"


def sim_send_held(company_id: int) -> str:
    """Simulator: ids of the sends hanging right now (set)."""
    return f"{sim_prefix(company_id)}:send-held"


def sim_send_release(company_id: int) -> str:
    """Simulator: one token per hanging send to let go (list, BLPOPed)."""
    return f"{sim_prefix(company_id)}:send-release"


def sim_typing(company_id: int) -> str:
    """Simulator: chats the bot showed 'typing…' in (list, bounded)."""
    return f"{sim_prefix(company_id)}:typing"


def sim_presence(company_id: int) -> str:
    """Simulator: chat presence the bot sent, 'composing' and 'paused' (JSON list, bounded)."""
    return f"{sim_prefix(company_id)}:presence"


def sim_fail_starts(company_id: int) -> str:
    """Simulator: how many next connection attempts fail (injected 'disconnect' fault)."""
    return f"{sim_prefix(company_id)}:fail-starts"


def sim_ban(company_id: int) -> str:
    """Simulator: set while the number is temporarily banned (value: expires_at unix seconds)."""
    return f"{sim_prefix(company_id)}:ban"


def sim_device(company_id: int) -> str:
    """Simulator: the linked device (JSON {jid, phone, linked_at}); no TTL, survives restarts."""
    return f"{sim_prefix(company_id)}:device"


def instance_alive(instance_id: str) -> str:
    """Heartbeat of a sessions engine instance (TTL = a few lease periods)."""
    return f"sessions:instance:{instance_id}"


INSTANCES_PATTERN = "sessions:instance:*"


def rpc_reply(request_id: str) -> str:
    """Where the owning instance answers a forwarded request (a list, BLPOPed once, short TTL)."""
    return f"sessions:rpc-reply:{request_id}"
