"""The URLs this API hands out; the signed ones work in a browser with no header.

Paths are what the API serves and signs; `Links` hands them out, absolute when
PUBLIC_BASE_URL is set (a client on another origin resolves them against this server, not
against its own page), relative otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

from image2model.api.signing import Signer

PREFIX = "/api/v1"


def stream_path(job_id: str) -> str:
    return f"{PREFIX}/status/tasks/{job_id}/stream"


def status_path(job_id: str) -> str:
    return f"{PREFIX}/status/tasks/{job_id}/status"


def file_path(job_id: str, filename: str) -> str:
    return f"{PREFIX}/download/{job_id}/{quote(filename)}"


def zip_path(job_id: str) -> str:
    return f"{PREFIX}/models/download/{job_id}"


def signed_stream(signer: Signer, job_id: str, ttl: int) -> str:
    return signer.sign(stream_path(job_id), ttl)


def signed_file(signer: Signer, job_id: str, filename: str, ttl: int) -> str:
    return signer.sign(file_path(job_id, filename), ttl)


def signed_zip(signer: Signer, job_id: str, ttl: int, fmt: str = "glb") -> str:
    return f"{signer.sign(zip_path(job_id), ttl)}&format={fmt}"


def files_path(job_id: str) -> str:
    return f"{PREFIX}/download/{job_id}/all"


@dataclass(frozen=True)
class Links:
    signer: Signer
    base: str = ""
    """PUBLIC_BASE_URL without its trailing slash, or empty for relative links."""

    def stream(self, job_id: str, ttl: int) -> str:
        return self.base + signed_stream(self.signer, job_id, ttl)

    def status(self, job_id: str) -> str:
        return self.base + status_path(job_id)

    def files(self, job_id: str) -> str:
        return self.base + files_path(job_id)

    def file(self, job_id: str, filename: str, ttl: int) -> str:
        return self.base + signed_file(self.signer, job_id, filename, ttl)

    def zip(self, job_id: str, ttl: int, fmt: str = "glb") -> str:
        return self.base + signed_zip(self.signer, job_id, ttl, fmt)
