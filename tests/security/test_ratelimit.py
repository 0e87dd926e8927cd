"""Rate limits are shared by every API process through Redis."""

from __future__ import annotations

import socket
import time

import httpx

from tests.conftest import OTHER_KEY, USER_KEY
from tests.security.conftest import ApiProcess


def get(api: ApiProcess, key: str) -> httpx.Response:
    return httpx.get(
        f"{api.url}/api/v1/models/available",
        headers={"Authorization": f"Bearer {key}"},
        timeout=10,
    )


def test_limit_is_shared_by_two_api_processes(api_process) -> None:  # type: ignore[no-untyped-def]
    first = api_process(RATE_LIMIT_PER_MINUTE="10", RATE_LIMIT_PER_HOUR="1000")
    second = api_process(RATE_LIMIT_PER_MINUTE="10", RATE_LIMIT_PER_HOUR="1000")
    responses = [get(first if i % 2 else second, USER_KEY) for i in range(30)]
    statuses = [r.status_code for r in responses]
    assert statuses.count(200) == 10 and statuses.count(429) == 20, statuses
    refused = next(r for r in responses if r.status_code == 429)
    body = refused.json()
    assert (
        body["error"] is True
        and body["error_code"] == "RATE_LIMITED"
        and body["status_code"] == 429
    )
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    assert refused.headers["x-ratelimit-limit"] == "10"
    assert refused.headers["x-ratelimit-remaining"] == "0"
    assert int(refused.headers["x-ratelimit-reset"]) >= int(time.time())
    allowed = responses[0]
    assert allowed.headers["x-ratelimit-limit"] == "10"

    other = get(first, OTHER_KEY)
    assert other.status_code == 200, "another key has its own budget"
    assert other.headers["x-ratelimit-remaining"] == "9"


def test_anonymous_clients_are_limited_by_ip(api_process) -> None:  # type: ignore[no-untyped-def]
    api = api_process(RATE_LIMIT_PER_MINUTE="3", RATE_LIMIT_PER_HOUR="0")
    statuses = [
        httpx.get(f"{api.url}/api/v1/models/available", timeout=10).status_code for _ in range(5)
    ]
    assert statuses == [401, 401, 401, 429, 429]
    spoofed = httpx.get(
        f"{api.url}/api/v1/models/available",
        headers={"X-Forwarded-For": "203.0.113.9"},
        timeout=10,
    )
    assert spoofed.status_code == 429, "X-Forwarded-For from an untrusted peer is ignored"


def test_trusted_proxy_forwarded_address_is_the_client(api_process) -> None:  # type: ignore[no-untyped-def]
    api = api_process(
        RATE_LIMIT_PER_MINUTE="2", RATE_LIMIT_PER_HOUR="0", TRUSTED_PROXIES="127.0.0.1"
    )

    def from_client(ip: str) -> int:
        headers = {"X-Forwarded-For": ip}
        return httpx.get(
            f"{api.url}/api/v1/models/available", headers=headers, timeout=10
        ).status_code

    assert [from_client("198.51.100.1") for _ in range(3)] == [401, 401, 429]
    assert from_client("198.51.100.2") == 401, "a different client behind the proxy"


def test_upload_refused_before_its_body_is_read(api_process) -> None:  # type: ignore[no-untyped-def]
    api = api_process(RATE_LIMIT_PER_MINUTE="1", RATE_LIMIT_PER_HOUR="0")
    assert get(api, USER_KEY).status_code == 200
    with socket.create_connection(("127.0.0.1", api.port), timeout=5) as sock:
        head = (
            "POST /api/v1/upload/ HTTP/1.1\r\nHost: x\r\n"
            f"Authorization: Bearer {USER_KEY}\r\n"
            "Content-Type: multipart/form-data; boundary=b\r\n"
            "Content-Length: 200000000\r\n\r\n"
        )
        sock.sendall(head.encode())  # and no body at all
        reply = sock.recv(4096).decode()
    assert reply.startswith("HTTP/1.1 429"), reply
    assert "retry-after" in reply.lower()
