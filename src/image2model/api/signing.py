"""Signed, expiring links: HMAC over (path, expiry), so browsers can use plain URLs."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from pathlib import Path
from urllib.parse import urlencode

from image2model.config import Settings

SECRET_FILE = "secret_key"


def load_secret(settings: Settings) -> bytes:
    """SECRET_KEY, or one generated once and kept under DATA_DIR (shared by every API host)."""
    if settings.SECRET_KEY:
        return settings.SECRET_KEY.get_secret_value().encode()
    path = settings.data_dir / SECRET_FILE
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        _create_exclusive(path, secrets.token_urlsafe(48))
    return path.read_text().strip().encode()


def _create_exclusive(path: Path, value: str) -> None:
    try:
        with path.open("x") as handle:  # first host wins; the others read its secret
            handle.write(value)
        path.chmod(0o600)
    except FileExistsError:
        return


class Signer:
    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def sign(self, path: str, ttl: int, *, now: float | None = None) -> str:
        """`path?expires=…&signature=…` valid for `ttl` seconds."""
        expires = int((now or time.time()) + ttl)
        query = urlencode({"expires": expires, "signature": self._mac(path, expires)})
        return f"{path}?{query}"

    def verify(self, path: str, expires: str | None, signature: str | None) -> bool:
        if not expires or not signature or not expires.isdigit():
            return False
        if int(expires) < time.time():
            return False
        return hmac.compare_digest(self._mac(path, int(expires)), signature)

    def _mac(self, path: str, expires: int) -> str:
        digest = hmac.new(self._secret, f"{path}\n{expires}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest[:24]).decode().rstrip("=")
