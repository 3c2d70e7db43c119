"""QR strings rendered as PNG data URLs (qrcode + pillow), with a small cache: many sockets, one QR."""

from __future__ import annotations

import asyncio
import base64
import io
from collections import OrderedDict

import qrcode
from qrcode.constants import ERROR_CORRECT_M


class QrRenderer:
    """Renders raw QR strings to `data:image/png;base64,...`; remembers the last few."""

    def __init__(self, cache_size: int = 64) -> None:
        self._cache: OrderedDict[str, str] = OrderedDict()
        self._size = cache_size

    async def render(self, code: str) -> str:
        """The PNG data URL of `code`, rendered off the event loop (~15 ms of CPU per new code)."""
        hit = self._cache.get(code)
        if hit is not None:
            self._cache.move_to_end(code)
            return hit
        url = await asyncio.to_thread(_render, code)
        self._remember(code, url)
        return url

    def data_url(self, code: str) -> str:
        """The PNG data URL of `code` (synchronous; for scripts and tests)."""
        hit = self._cache.get(code)
        if hit is not None:
            self._cache.move_to_end(code)
            return hit
        url = _render(code)
        self._remember(code, url)
        return url

    def _remember(self, code: str, url: str) -> None:
        self._cache[code] = url
        if len(self._cache) > self._size:
            self._cache.popitem(last=False)


def _render(code: str) -> str:
    qr = qrcode.QRCode(error_correction=ERROR_CORRECT_M, box_size=8, border=2)
    qr.add_data(code)
    qr.make(fit=True)
    image = qr.make_image(fill_color="black", back_color="white")
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()
