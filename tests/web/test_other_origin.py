"""A web app on another origin, written as clients of the replaced service were: it uploads
with its key, follows the job with a plain EventSource, and shows the preview and fetches a
model from the absolute links PUBLIC_BASE_URL makes (CORS_ORIGINS lets it call the API)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from playwright.sync_api import BrowserContext, expect

from tests.conftest import USER_KEY, Stack, free_port
from tests.web.conftest import wait_until

APP = """<!doctype html>
<html><body>
<p id="state">starting</p><img id="preview" alt="preview">
<script>
const api = "%(api)s/api/v1";
const key = "%(key)s";
const say = (text) => { document.getElementById("state").textContent = text; };

async function photo() {  // a blue disc on grey, drawn here: no file picker needed
  const canvas = document.createElement("canvas");
  canvas.width = canvas.height = 128;
  const g = canvas.getContext("2d");
  g.fillStyle = "#c8c8c8"; g.fillRect(0, 0, 128, 128);
  g.fillStyle = "#2858c8"; g.beginPath(); g.arc(64, 64, 40, 0, 2 * Math.PI); g.fill();
  return new Promise((done) => canvas.toBlob(done, "image/png"));
}

async function run() {
  const form = new FormData();
  form.append("files", await photo(), "disc.png");
  const answer = await fetch(`${api}/upload/`, {
    method: "POST", headers: { Authorization: `Bearer ${key}` }, body: form,
  });
  const job = await answer.json();
  say(`uploaded ${answer.status}`);
  const events = new EventSource(job.stream_url);
  events.addEventListener("task_progress", (e) => say(`progress ${JSON.parse(e.data).progress}`));
  events.addEventListener("task_completed", async (e) => {
    events.close();
    const result = JSON.parse(e.data).result;
    const listing = await (await fetch(result.files_url, {
      headers: { Authorization: `Bearer ${key}` },
    })).json();
    const file = listing.files[0];
    document.getElementById("preview").src = file.rendered_image.url;
    const model = await fetch(file.formats.glb);  // signed: no key
    const bytes = (await model.arrayBuffer()).byteLength;
    say(`done ${model.status} ${bytes} ${file.formats.glb.startsWith("%(api)s/")}`);
  });
  events.addEventListener("task_failed", () => say("failed"));
}
run().catch((error) => say(`error ${error}`));
</script>
</body></html>
"""


@pytest.fixture
def app_origin() -> Iterator[tuple[str, dict[str, Any]]]:
    """A static page server of its own (another port: another origin)."""
    page: dict[str, Any] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = page["html"].encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", page
    server.shutdown()


def test_an_app_on_another_origin_uploads_streams_and_downloads(
    make_stack: Any, context: BrowserContext, app_origin: tuple[str, dict[str, Any]]
) -> None:
    origin, page_source = app_origin
    port = free_port()
    api = f"http://127.0.0.1:{port}"
    stack: Stack = make_stack(port=port, PUBLIC_BASE_URL=api, CORS_ORIGINS=origin)
    stack.start_worker(concurrency=1)
    page_source["html"] = APP % {"api": api, "key": USER_KEY}

    page = context.new_page()
    page.goto(origin + "/")
    expect(page.locator("#state")).to_contain_text("done 200", timeout=60_000)
    state = page.locator("#state").inner_text().split()
    assert int(state[2]) > 0 and state[3] == "true", state
    assert (page.locator("#preview").get_attribute("src") or "").startswith(
        f"{api}/api/v1/download/"
    )
    preview = page.locator("#preview")
    wait_until(
        lambda: bool(preview.evaluate("(img) => img.complete && img.naturalWidth > 0")),
        message="the preview loads from the absolute signed link",
    )
