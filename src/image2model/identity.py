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
    job_id: str | None = None
    """Set for a signed link or an anonymous stream: it reads this one job, nothing else."""

    def can_see(self, owner: str, job_id: str | None = None) -> bool:
        """Whether the caller may read a job of `owner` (the job `job_id`, where known)."""
        if self.job_id is not None:
            return job_id is not None and hmac.compare_digest(self.job_id, job_id)
        return self.is_admin or hmac.compare_digest(self.key_id, owner)
