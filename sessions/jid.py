"""Phone numbers and WhatsApp JIDs."""

from __future__ import annotations

import re

_E164 = re.compile(r"^\+[1-9]\d{7,14}$")
USER_SERVER = "s.whatsapp.net"


def is_e164(phone: str) -> bool:
    """True for '+' followed by 8..15 digits."""
    return bool(_E164.match(phone))


def phone_to_jid(phone: str) -> str:
    """'+79161234567' -> '79161234567@s.whatsapp.net'."""
    return f"{phone.lstrip('+')}@{USER_SERVER}"


def to_chat_jid(chat_or_phone: str) -> str:
    """Accept a chat JID or an E.164 phone; return the chat JID."""
    if "@" in chat_or_phone:
        return chat_or_phone
    if not is_e164(chat_or_phone):
        raise ValueError(f"not a chat JID nor an E.164 phone: {chat_or_phone!r}")
    return phone_to_jid(chat_or_phone)


def jid_to_phone(jid: str) -> str | None:
    """The E.164 phone of a user JID ('79161234567:12@s.whatsapp.net' -> '+79161234567'); None for others."""
    user, _, server = jid.partition("@")
    if server != USER_SERVER:
        return None
    digits = user.split(":", 1)[0].split(".", 1)[0]
    return f"+{digits}" if digits.isdigit() else None
