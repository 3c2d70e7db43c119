"""Who asks for which salon on the install redirect, and whether they may have its connect link.

The redirect's only proof is `user_data_sign`, an HMAC over `user_data` alone: the `salon_id`
next to it in the query is not signed. Anyone who installed the app in their own salon holds a
validly signed blob and could pair it with someone else's `salon_id` (reference 4.2: "treat
`salon_id` as a claim"). So a claim is checked three ways before a token is issued:

1. **Signed salon ids.** When the signed `user_data` names salons (`salon_id`, `salon_ids`,
   `company_id`, `company_ids`), the requested salon must be among them. When it includes it,
   YClients itself vouched for the pair and that is enough.
2. **The installer.** The first install of a salon remembers the YClients user who made it
   (`user_data` `id` / `user_id`, column `companies.installed_by_user_id`). Later redirects for
   that salon must come from the same user. A salon someone has already bound (WhatsApp
   connected, activating, active, activation failed, frozen) whose installer we do not know
   gets no token at all. An `uninstalled` salon starts over: the next install takes it.
3. **YClients' own view** (`MarketplaceService.install`): the partner status route must not say
   the app is not installed in that salon (404 or `uninstalled`).

`refusal()` is a pure function of the claim and the stored row; the store runs it inside the
transaction that locks the row, so two redirects cannot both pass on a stale read.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from marketplace import store as st
from marketplace.store import Company
from marketplace.validation import is_digits

USER_SALON_KEYS = ("salon_id", "salon_ids", "company_id", "company_ids")
# Statuses in which a salon is bound to someone even if its WhatsApp is not connected right now.
_BOUND_STATUSES = {st.ACTIVATING, st.ACTIVE, st.ACTIVATION_FAILED, st.FROZEN}

# Refusal reasons (logged, audited, and mapped to the page's text by web/pages.py).
NOT_IN_USER_DATA = "salon_not_in_signed_user_data"
OTHER_USER = "installed_by_another_user"
NO_USER = "unsigned_request_for_a_claimed_salon"
OWNER_UNKNOWN = "salon_bound_installer_unknown"
NOT_INSTALLED = "app_not_installed_in_salon"
UNCONFIRMED = "install_not_confirmed_by_yclients"


@dataclass(frozen=True)
class InstallClaim:
    """One install redirect, after the signature check."""

    salon_id: int
    signed: bool
    user_id: str | None  # the YClients user who clicked install (None: unsigned or no id in user_data)
    user_salon_ids: frozenset[int] | None  # salons the signed user_data names (None: names none)

    @property
    def salon_vouched(self) -> bool:
        """YClients' signature covers this very salon (rule 1 in its positive form)."""
        return self.user_salon_ids is not None and self.salon_id in self.user_salon_ids


def claim_of(salon_id: int, user: dict[str, Any] | None) -> InstallClaim:
    """The claim of a redirect for `salon_id` with the verified `user_data` (None when unsigned)."""
    if user is None:
        return InstallClaim(salon_id, False, None, None)
    raw_id = user.get("id", user.get("user_id"))
    user_id = str(raw_id)[:64] if isinstance(raw_id, (int, str)) and not isinstance(raw_id, bool) and str(raw_id) else None
    return InstallClaim(salon_id, True, user_id, _salon_ids_in(user))


def _salon_ids_in(user: dict[str, Any]) -> frozenset[int] | None:
    """Salon ids the signed user_data names, or None if it has none of the keys (nulls ignored)."""
    found: set[int] = set()
    named = False
    for key in USER_SALON_KEYS:
        value = user.get(key)
        if value is None or value == "" or value == []:
            continue
        named = True
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, bool):
                continue
            text = str(item) if isinstance(item, (int, str)) else ""
            if is_digits(text) and 0 < int(text) < 2**31:
                found.add(int(text))
    return frozenset(found) if named else None


def refusal(claim: InstallClaim, existing: Company | None) -> str | None:
    """Why this claim must get no token for this salon (None: it may)."""
    if claim.user_salon_ids is not None and not claim.salon_vouched:
        return NOT_IN_USER_DATA
    if existing is None or existing.integration_status == st.UNINSTALLED:
        return None  # a first install (or one after an uninstall): YClients' status route decides
    if claim.salon_vouched:
        return None
    if existing.installed_by_user_id is not None:
        if claim.user_id is None:
            return NO_USER
        return None if claim.user_id == existing.installed_by_user_id else OTHER_USER
    if existing.whatsapp_connected or existing.integration_status in _BOUND_STATUSES:
        return OWNER_UNKNOWN if claim.user_id is not None else NO_USER
    return None  # pending, never connected, nobody recorded: this install takes it
