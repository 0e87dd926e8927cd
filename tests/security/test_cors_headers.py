"""CORS for configured origins only, and security headers on every response."""

from __future__ import annotations

import httpx

from tests.conftest import USER_KEY, Stack, image_bytes
from tests.jobs.test_batch_e2e import upload

ORIGIN = "https://app.example.com"


def test_preflight_with_authorization_from_an_allowed_origin(make_stack) -> None:  # type: ignore[no-untyped-def]
    stack: Stack = make_stack(CORS_ORIGINS=f"{ORIGIN},https://other.example.com")
    preflight = httpx.options(
        f"{stack.base_url}/api/v1/upload/",
        headers={
            "Origin": ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type",
        },
    )
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == ORIGIN
    assert "authorization" in preflight.headers["access-control-allow-headers"].lower()
    refused = httpx.options(
        f"{stack.base_url}/api/v1/upload/",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
    )
    assert refused.status_code == 400
    assert "access-control-allow-origin" not in refused.headers


def test_stream_has_no_wildcard_cors_when_origins_are_set(make_stack) -> None:  # type: ignore[no-untyped-def]
    stack: Stack = make_stack(CORS_ORIGINS=ORIGIN)
    job = upload(stack, [("c.png", image_bytes())], delay="0")
    url = f"{stack.base_url}{job['stream_url']}"
    with httpx.stream("GET", url, headers={"Origin": ORIGIN}, timeout=10) as response:
        assert response.status_code == 200
        assert response.headers["access-control-allow-origin"] == ORIGIN
    with httpx.stream(
        "GET", url, headers={"Origin": "https://evil.example"}, timeout=10
    ) as response:
        assert response.headers.get("access-control-allow-origin") in (None, ORIGIN)
        assert response.headers.get("access-control-allow-origin") != "*"


def test_no_cors_headers_without_configured_origins(stack: Stack) -> None:
    response = httpx.get(f"{stack.base_url}/api/v1/health/", headers={"Origin": ORIGIN}, timeout=10)
    assert "access-control-allow-origin" not in response.headers


def test_security_headers_everywhere(stack: Stack) -> None:
    with stack.client() as client:
        responses = [
            client.get("/api/v1/health/"),
            client.get("/api/v1/models/available"),
            client.get("/api/v1/no-such-route"),
            client.post("/api/v1/upload/", files={"x": ("a", b"")}),
        ]
    for response in responses:
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["x-frame-options"] == "DENY"
        csp = response.headers["content-security-policy"]
        assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert "unsafe-inline" not in csp and "*" not in csp
    with stack.client() as client:
        docs = client.get("/docs")
    assert docs.status_code == 200 and "cdn.jsdelivr.net" in docs.headers["content-security-policy"]
    assert USER_KEY  # keys are configured in this stack, so the checks ran authenticated
