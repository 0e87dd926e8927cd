"""The web page in real headless Chromium: upload, live progress, 3D view, downloads, resume."""

from __future__ import annotations

import io
import zipfile
from typing import Any

import httpx
import numpy as np
from PIL import Image
from playwright.sync_api import BrowserContext, Locator, Page, expect

from tests.conftest import RED, USER_KEY, Stack, image_bytes
from tests.web.conftest import wait_until

BLUE, GREEN = (40, 90, 200), (30, 160, 80)


def png(name: str, color: tuple[int, int, int]) -> dict[str, Any]:
    return {"name": name, "mimeType": "image/png", "buffer": image_bytes(color, size=96)}


def open_page(context: BrowserContext, stack: Stack, key: str | None = USER_KEY) -> Page:
    """The page with the key already in this browser's storage, as after a first visit."""
    if key:
        context.add_init_script(
            f"if (location.origin === {stack.base_url!r}) "
            f"localStorage.setItem('image2model.apiKey', {key!r})"
        )
    page = context.new_page()
    page.goto(stack.base_url + "/")
    return page


def upload(page: Page, *files: dict[str, Any]) -> str:
    """Choose `files`, start, and return the job id the page moved to."""
    page.locator("#file-input").set_input_files(list(files))
    expect(page.locator("#thumbs li")).to_have_count(len(files))
    page.get_by_role("button", name="Generate 3D models").click()
    page.wait_for_url("**/?job=*")
    return page.url.rsplit("job=", 1)[1]


def card(page: Page, filename: str) -> Locator:
    return page.locator("article.card", has=page.locator("h3", has_text=filename))


def href(link: Locator) -> str:
    return link.get_attribute("href") or ""


def test_two_images_become_models_to_turn_and_download(
    make_stack: Any, context: BrowserContext
) -> None:
    stack: Stack = make_stack(DEFAULT_PROVIDER="local")  # the offline generator: real models
    stack.start_worker()
    page = context.new_page()
    page.goto(stack.base_url + "/")

    # keys are configured: the page asks once, keeps the key in storage, never in the URL
    dialog = page.get_by_role("dialog", name="API key")
    expect(dialog).to_be_visible()
    dialog.get_by_label("Key").fill(USER_KEY)
    dialog.get_by_role("button", name="Save key").click()
    expect(page.get_by_label("Provider")).to_have_value("local")
    assert page.evaluate("localStorage.getItem('image2model.apiKey')") == USER_KEY

    job_id = upload(page, png("chair.png", BLUE), png("lamp.png", GREEN))
    assert USER_KEY not in page.url and USER_KEY not in page.content()
    for name in ("chair", "lamp"):
        expect(card(page, f"{name}.png")).to_have_attribute("data-status", "completed")
    expect(page.locator("#job-status")).to_have_text("Completed")
    expect(page.locator("#job-progress")).to_have_attribute("value", "100")

    chair = card(page, "chair.png")
    expect(chair).to_have_attribute("data-model", "loaded")
    viewer = chair.locator("model-viewer")
    # until the 3D view loads, the card shows the model turning
    assert ".turntable.webp?" in (viewer.get_attribute("poster") or "")
    wait_until(lambda: viewer.evaluate("el => el.modelIsVisible"), message="model never shown")
    assert_rendered(viewer.screenshot(), BLUE)
    expect(chair.locator(".faces")).not_to_be_empty()
    expect(chair.locator(".watertight")).to_have_text("Yes")
    expect(chair.locator(".print")).to_contain_text("mm · 1 body · ")
    expect(chair.locator(".print")).to_contain_text("cm³")

    with httpx.Client(base_url=stack.base_url) as client:  # no key: the links are signed
        glb = client.get(href(chair.get_by_role("link", name="Download chair.png as GLB")))
        assert glb.status_code == 200 and glb.content[:4] == b"glTF"
        stl = client.get(href(chair.get_by_role("link", name="Download chair.png as STL")))
        assert stl.status_code == 200 and len(stl.content) > 84
        printable = client.get(href(chair.get_by_role("link", name="Download chair.png as 3MF")))
        assert printable.status_code == 200 and printable.content[:2] == b"PK"
        archive = client.get(href(page.locator("#zip-link")))
        assert archive.status_code == 200
        assert sorted(zipfile.ZipFile(io.BytesIO(archive.content)).namelist()) == [
            "chair.glb",
            "lamp.glb",
        ]

    history = page.locator("#history-list a")
    expect(history).to_have_count(1)
    expect(history.first).to_have_attribute("href", f"/?job={job_id}")


def test_a_failing_image_shows_its_error(make_stack: Any, context: BrowserContext) -> None:
    stack: Stack = make_stack()
    stack.start_worker()
    page = open_page(context, stack)
    upload(page, png("apple.png", RED), png("plum.png", BLUE))

    apple = card(page, "apple.png")
    expect(apple).to_have_attribute("data-status", "failed")
    expect(apple.get_by_role("alert")).to_contain_text("Red images cannot be modelled")
    expect(card(page, "plum.png")).to_have_attribute("data-status", "completed")
    expect(page.locator("#job-status")).to_have_text("Partly completed")
    expect(apple.locator("model-viewer")).to_have_count(0)


def test_reload_mid_job_resumes_the_stream(make_stack: Any, context: BrowserContext) -> None:
    stack: Stack = make_stack()
    page = open_page(context, stack)
    job_id = upload(page, png("mug.png", BLUE), png("vase.png", RED))  # no worker yet
    expect(page.locator("#job-status")).to_have_text("Queued")

    page.reload()
    expect(page.locator("article.card")).to_have_count(2)
    expect(page.locator("#connection")).to_have_text("Live")
    stack.start_worker()
    expect(card(page, "mug.png")).to_have_attribute("data-status", "completed")
    expect(card(page, "vase.png").get_by_role("alert")).to_contain_text("Red images")
    expect(page.locator("#job-status")).to_have_text("Partly completed")
    expect(card(page, "mug.png")).to_have_attribute("data-model", "loaded")

    # a finished job, opened again from the history, shows its results straight away
    page.goto(stack.base_url + "/")
    page.locator("#history-list a").first.click()
    page.wait_for_url(f"**/?job={job_id}")
    mug_glb = card(page, "mug.png").get_by_role("link", name="Download mug.png as GLB")
    expect(mug_glb).to_be_visible()
    expect(card(page, "vase.png").get_by_role("alert")).to_contain_text("Red images")


def test_without_the_viewer_the_page_still_works(
    make_stack: Any, context: BrowserContext, tmp_path: Any
) -> None:
    stack: Stack = make_stack(WEB_VENDOR_DIR=str(tmp_path / "not-installed"))
    stack.start_worker()
    page = open_page(context, stack)
    expect(page.locator("#notice")).to_contain_text("3D viewer is not installed")
    upload(page, png("cup.png", BLUE))
    cup = card(page, "cup.png")
    expect(cup.get_by_role("link", name="Download cup.png as GLB")).to_be_visible()
    expect(cup.locator("img.poster")).to_be_visible()


def test_server_errors_are_shown_with_their_message(
    make_stack: Any, context: BrowserContext
) -> None:
    stack: Stack = make_stack(MAX_ACTIVE_JOBS_PER_KEY="1")
    page = open_page(context, stack)
    upload(page, png("first.png", BLUE))  # no worker: it stays active
    page.goto(stack.base_url + "/")
    page.locator("#file-input").set_input_files([png("second.png", BLUE)])
    page.get_by_role("button", name="Generate 3D models").click()
    expect(page.locator("#upload-error")).to_have_text(
        "This key already has 1 unfinished jobs; wait for one to finish"
    )
    assert "/?job=" not in page.url


def assert_rendered(screenshot: bytes, texture: tuple[int, int, int]) -> None:
    """The viewer drew a shaded, textured model: many colours, a share of them the photo's."""
    pixels = np.asarray(Image.open(io.BytesIO(screenshot)).convert("RGB"), dtype=np.int32)
    background = pixels[2, 2]
    differs = np.abs(pixels - background).sum(axis=2) > 30
    colours = len(np.unique(pixels.reshape(-1, 3), axis=0))
    r, g, b = (pixels[..., i] for i in range(3))
    tinted = (b - r > 40) if texture == BLUE else (g - r > 40)
    assert differs.mean() > 0.03, f"only {differs.mean():.1%} differs from the background"
    assert colours > 50, f"only {colours} colours: the canvas looks blank"
    assert tinted.mean() > 0.01, "the model shows no trace of its photo's colour"


def test_three_photos_of_one_object_make_one_model(
    make_stack: Any, context: BrowserContext, tmp_path: Any
) -> None:
    from tests.providers.fal.conftest import FAL_TEST_KEY
    from tests.providers.fal.test_fal_multiview import COLOURS, centre, near
    from tests.support.fake_fal import FakeFal

    fal = FakeFal(tmp_path, key=FAL_TEST_KEY).start()
    try:
        stack: Stack = make_stack(
            FAL_KEY=FAL_TEST_KEY,
            FAL_QUEUE_HOST=fal.host,
            SSL_CERT_FILE=str(fal.ca_file),
            DEFAULT_PROVIDER="fal",
            FAL_API_HOST=f"127.0.0.1:{fal.port}",  # nothing leaves the machine
            FAL_PRICES="tripo3d/tripo/v2.5/multiview-to-3d=0.4",  # the price, as set here
        )
        stack.start_worker()
        page = open_page(context, stack)
        model = "tripo3d/tripo/v2.5/multiview-to-3d"
        page.get_by_label("Model", exact=True).select_option(model)
        chosen = page.locator("#model option:checked")
        expect(chosen).to_have_text("Tripo v2.5 multi-view (fal) · 0.40 USD per request")
        sides = ("front", "back", "left")
        photos = [png(f"vase-{side}.png", COLOURS[side]) for side in sides]
        page.locator("#file-input").set_input_files(photos)
        thumbs = page.locator("#thumbs li.thumb")
        expect(thumbs).to_have_count(3)

        # drag the back view onto the front: one object; the left view by its menu
        thumbs.nth(1).drag_to(thumbs.nth(0))
        group = page.locator("#thumbs li.object")
        expect(group).to_have_count(1)
        page.get_by_label("Object of vase-left.png").select_option(label="With vase-front.png")
        expect(group.locator("li.thumb")).to_have_count(3)
        for side in sides:
            expect(page.get_by_label(f"Side of vase-{side}.png")).to_have_value(side)

        page.get_by_role("button", name="Generate 3D models").click()
        page.wait_for_url("**/?job=*")
        expect(page.locator("#job-meta")).to_contain_text("about 0.40 USD")  # one object
        expect(page.locator("#job-meta")).to_contain_text("1 image")
        expect(page.locator("article.card")).to_have_count(1)
        expect(card(page, "vase-front.png")).to_have_attribute("data-status", "completed")
        expect(page.locator("#job-status")).to_have_text("Completed")
        # Tripo's untextured mesh came too: offered as it came
        base = card(page, "vase-front.png").get_by_role(
            "link", name="Download base_model of vase-front.png"
        )
        expect(base).to_be_visible()
        with httpx.Client(base_url=stack.base_url) as client:
            assert client.get(href(base)).content[:4] == b"glTF"

        [submit] = fal.accepted()
        assert submit.path == f"/q/{model}"
        for side in sides:
            assert near(centre(submit.body[f"{side}_image_url"]), COLOURS[side]), side
    finally:
        fal.stop()
