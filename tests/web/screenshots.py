"""Regenerate docs/screenshots/{upload,processing,results}.png: `make screenshots`.

Runs a real stack (a private Redis, or the one TEST_REDIS_URL names; a worker; the API) with
the offline `local` generator on scikit-image photos, and drives the page in headless Chromium.
"""

from __future__ import annotations

import io
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from PIL import Image
from playwright.sync_api import Page, expect, sync_playwright
from skimage import data

from tests.conftest import (
    ROOT,
    USER_KEY,
    ServerThread,
    Stack,
    session_redis,
    start_stack,
    stop_stack,
)
from tests.web.conftest import CHROMIUM, CHROMIUM_ARGS, TIMEOUT_MS

OUT = ROOT / "docs" / "screenshots"
PHOTOS = {"coffee.jpg": data.coffee, "astronaut.jpg": data.astronaut, "chelsea.jpg": data.chelsea}


def photo(name: str) -> dict[str, Any]:
    image = Image.fromarray(PHOTOS[name]())
    image = image.resize((image.width * 2, image.height * 2))  # a phone-sized photo
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=88)
    return {"name": name, "mimeType": "image/jpeg", "buffer": buffer.getvalue()}


def start_local_stack(data_dir: Path) -> tuple[Stack, ServerThread]:
    stack, server = start_stack(data_dir, DEFAULT_PROVIDER="local", PROVIDER_PLUGINS="")
    stack.start_worker(concurrency=1)
    return stack, server


def wait_for_mixed_states(page: Page) -> None:
    """One model done, one being made: the moment the processing screenshot shows."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        states = page.evaluate(
            "() => [...document.querySelectorAll('article.card')].map(c => c.dataset.status)"
        )
        if "completed" in states and "processing" in states:
            return
        time.sleep(0.05)
    raise SystemExit("the job finished before a mixed state could be captured")


def capture(page: Page, stack: Stack) -> None:
    page.goto(stack.base_url + "/")
    expect(page.get_by_label("Provider")).to_have_value("local")
    page.locator("#file-input").set_input_files([photo(name) for name in PHOTOS])
    expect(page.locator("#thumbs li")).to_have_count(len(PHOTOS))
    page.screenshot(path=OUT / "upload.png", full_page=True)

    page.get_by_role("button", name="Generate 3D models").click()
    page.wait_for_url("**/?job=*")
    wait_for_mixed_states(page)
    page.screenshot(path=OUT / "processing.png", full_page=True)

    expect(page.locator("#job-status")).to_have_text("Completed")
    for index in range(len(PHOTOS)):
        expect(page.locator("article.card").nth(index)).to_have_attribute("data-model", "loaded")
    page.locator("#main").click(position={"x": 5, "y": 5})  # no focus ring in the picture
    time.sleep(2)  # the posters fade out and the models turn a little
    page.screenshot(path=OUT / "results.png", full_page=True)


def main() -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp, session_redis():
        stack, server = start_local_stack(Path(tmp) / "data")
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(
                    executable_path=str(CHROMIUM), args=CHROMIUM_ARGS
                )
                context = browser.new_context(
                    viewport={"width": 1280, "height": 860}, device_scale_factor=1
                )
                context.set_default_timeout(TIMEOUT_MS)
                context.add_init_script(
                    f"if (location.origin === {stack.base_url!r}) "
                    f"localStorage.setItem('image2model.apiKey', {USER_KEY!r})"
                )
                page = context.new_page()
                page.on("console", lambda m: m.type == "error" and print("console:", m.text))
                capture(page, stack)
                browser.close()
        finally:
            stop_stack(stack, server)
    print(f"wrote {', '.join(p.name for p in sorted(OUT.glob('*.png')))} to {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
