"""`/` serves the page to browsers and JSON to everyone else; the page's files and policy."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from image2model.api.ui import prefers_html
from tests.conftest import Stack

BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


@pytest.mark.parametrize(
    ("accept", "html"),
    [
        (BROWSER_ACCEPT, True),
        ("text/html", True),
        ("*/*", False),
        ("", False),
        ("application/json", False),
        ("application/json, text/html", False),
        ("text/html;q=0.5, application/json", False),
        ("text/html;q=0, */*", False),
        ("text/html;q=bad, */*;q=0.1", False),
    ],
)
def test_html_only_when_preferred(accept: str, html: bool) -> None:
    assert prefers_html(accept) is html


def test_root_is_json_for_api_clients_and_the_page_for_browsers(stack: Stack) -> None:
    with stack.client(key=None) as client:
        info = client.get("/")
        page = client.get("/", headers={"Accept": BROWSER_ACCEPT})
    assert info.json()["api"] == "/api/v1"
    assert info.headers["vary"] == "Accept"
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert page.headers["vary"] == "Accept"
    assert '<script type="module" src="/ui/app.js"></script>' in page.text
    assert 'name="image2model-max-files" content="25"' in page.text
    assert "<script>" not in page.text and "style=" not in page.text


def test_the_page_policy_stays_strict(stack: Stack) -> None:
    with stack.client(key=None) as client:
        page = client.get("/", headers={"Accept": "text/html"})
        script = client.get("/ui/app.js")
        viewer = client.get("/ui/vendor/model-viewer.min.js")
    policy = dict(
        part.strip().split(" ", 1) for part in page.headers["content-security-policy"].split(";")
    )
    assert policy["script-src"] == "'self' 'wasm-unsafe-eval'"
    assert "unsafe-inline" not in policy["style-src"]
    assert policy["style-src"].startswith("'self' 'sha256-")
    assert script.status_code == 200 and "javascript" in script.headers["content-type"]
    assert viewer.status_code == 200 and len(viewer.content) > 100_000
    assert "wasm-unsafe-eval" not in script.headers["content-security-policy"]


def test_a_missing_viewer_is_a_404_not_a_failed_start(make_stack: Any, tmp_path: Path) -> None:
    stack: Stack = make_stack(WEB_VENDOR_DIR=str(tmp_path / "absent"), MAX_FILES_PER_UPLOAD="3")
    with stack.client(key=None) as client:
        page = client.get("/", headers={"Accept": "text/html"})
        viewer = client.get("/ui/vendor/model-viewer.min.js")
    assert page.status_code == 200 and 'name="image2model-max-files" content="3"' in page.text
    assert "'self' 'sha256-" not in page.headers["content-security-policy"]
    assert viewer.status_code == 404
