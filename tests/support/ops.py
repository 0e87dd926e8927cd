"""Helpers for the operations tests: uploads, waiting, scraping metrics, reading log lines."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import Stack

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def upload_job(
    stack: Stack,
    images: list[tuple[str, bytes]],
    headers: dict[str, str] | None = None,
    key: str | None = None,
    **fields: str,
) -> tuple[dict[str, Any], dict[str, str]]:
    """POST /upload/; the 202 body and the response headers."""
    client = stack.client() if key is None else stack.client(key=key)
    with client:
        files = [("files", (name, data, "image/png")) for name, data in images]
        response = client.post("/api/v1/upload/", files=files, data=fields, headers=headers or {})
    assert response.status_code == 202, response.text
    return response.json(), dict(response.headers)


def wait_finished(stack: Stack, job_id: str, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    with stack.client() as client:
        while True:
            status = client.get(f"/api/v1/status/tasks/{job_id}/status").json()
            if status["status"] not in ("queued", "processing"):
                return status
            assert time.monotonic() < deadline, status
            time.sleep(0.1)


def scrape(stack: Stack, path: str = "/metrics") -> tuple[Samples, str]:
    """Every sample of a scrape by (name, labels), and the content type."""
    with stack.client(key=None) as client:
        response = client.get(path)
    assert response.status_code == 200, response.text
    samples: Samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples, response.headers["content-type"]


def value(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


def label_values(samples: Samples, name: str, label: str) -> set[str]:
    return {dict(labels)[label] for n, labels in samples if n == name and label in dict(labels)}


def json_lines(path: Path) -> list[dict[str, Any]]:
    """Every line of a log file, each of which must be one JSON object."""
    if not path.exists():
        return []
    lines = path.read_text().splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def log_dir(stack: Stack) -> Path:
    return stack.settings.log_dir
