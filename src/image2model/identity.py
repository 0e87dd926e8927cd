"""Who a request acts for."""

from __future__ import annotations

import hmac
from dataclasses import dataclass


@dataclass(frozen=True)
class Principal:
    """An authenticated caller. `key_id` is a hash prefix; the key itself is never kept."""

    key_id: str
    name: str
    is_admin: bool = False

    def can_see(self, owner: str) -> bool:
        return self.is_admin or hmac.compare_digest(self.key_id, owner)
