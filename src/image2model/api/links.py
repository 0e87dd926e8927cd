"""The URLs this API hands out; the signed ones work in a browser with no header."""

from __future__ import annotations

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
