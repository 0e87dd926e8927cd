"""Who is calling: Bearer keys compared in constant time, known only by a key id afterwards."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from image2model.config import Settings
from image2model.errors import Forbidden, Unauthorized
from image2model.identity import Principal

LOCAL_OWNER = "local"


def key_id(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()[:16]


def new_key() -> str:
    """A random key: 256 bits, URL-safe."""
    return f"i2m_{secrets.token_urlsafe(32)}"


class KeyRing:
    """The configured keys, by digest, so lookups never compare raw keys by `==`."""

    def __init__(self, settings: Settings) -> None:
        self.enabled = settings.auth_enabled
        self._keys: list[tuple[bytes, Principal]] = []
        users = dict(settings.API_KEYS)
        if settings.API_KEY:
            users.setdefault("default", settings.API_KEY)
        for name, secret in users.items():
            self._add(secret.get_secret_value(), name, admin=False)
        if settings.ADMIN_API_KEY:
            self._add(settings.ADMIN_API_KEY.get_secret_value(), "admin", admin=True)

    def _add(self, key: str, name: str, *, admin: bool) -> None:
        digest = hashlib.sha256(key.encode()).digest()
        self._keys.append((digest, Principal(key_id=key_id(key), name=name, is_admin=admin)))

    def authenticate(self, authorization: str | None) -> Principal:
        """The caller for an `Authorization` header value; 401 when missing or unknown."""
        if not self.enabled:
            return Principal(key_id=LOCAL_OWNER, name=LOCAL_OWNER, is_admin=True)
        if not _bearer_token(authorization):
            raise _unauthorized("Missing API key: send Authorization: Bearer <key>")
        principal = self.identify(authorization)
        if principal is None:
            raise _unauthorized("Invalid API key")
        return principal

    def identify(self, authorization: str | None) -> Principal | None:
        """The configured key this header carries, if any (never the local fallback)."""
        token = _bearer_token(authorization)
        if not token:
            return None
        digest = hashlib.sha256(token.encode()).digest()
        found = None
        for known, principal in self._keys:  # no early exit: timing says nothing
            if hmac.compare_digest(known, digest):
                found = principal
        return found

    @staticmethod
    def require_admin(principal: Principal) -> Principal:
        if not principal.is_admin:
            raise Forbidden("This route needs the admin API key")
        return principal


def _bearer_token(authorization: str | None) -> str:
    scheme, _, token = (authorization or "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def _unauthorized(message: str) -> Unauthorized:
    return Unauthorized(message, headers={"WWW-Authenticate": "Bearer"})
