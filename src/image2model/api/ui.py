"""The built-in web page: `/` for browsers (JSON service info for everyone else), files in /ui/."""

from __future__ import annotations

import base64
import functools
import hashlib
import re
from pathlib import Path

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles

from image2model.api.headers import STRICT_CSP
from image2model.api.health import service_info
from image2model.config import Settings

WEB_DIR = Path(__file__).resolve().parents[1] / "web"
"""index.html (a template) and static/, the page's own scripts and styles."""
VIEWER_SCRIPT = "model-viewer.min.js"
VENDOR_PATH = "/ui/vendor"
_STYLE_BLOCK = re.compile(r"<style>(.*?)</style>", re.DOTALL)

router = APIRouter(tags=["health"])


class WebPage:
    """index.html with this server's upload limits, and the policy its viewer needs."""

    def __init__(self, settings: Settings) -> None:
        template = (WEB_DIR / "index.html").read_text(encoding="utf-8")
        self.html = template.replace("{{max_files}}", str(settings.MAX_FILES_PER_UPLOAD)).replace(
            "{{max_upload_size}}", str(settings.MAX_UPLOAD_SIZE)
        )
        self.viewer = settings.web_vendor_dir / VIEWER_SCRIPT

    def response(self) -> HTMLResponse:
        headers = {"Content-Security-Policy": self.policy(), "Vary": "Accept"}
        return HTMLResponse(self.html, headers={**headers, "Cache-Control": "no-cache"})

    def policy(self) -> str:
        """The strict policy, plus exactly what the viewer needs: its own shadow-DOM
        stylesheets (by hash), WebAssembly for its mesh decoder (never JavaScript eval) and
        reading the textures it unpacks from a GLB into blob: URLs."""
        try:
            stat = self.viewer.stat()
        except OSError:
            return STRICT_CSP
        hashes = _style_hashes(self.viewer, stat.st_mtime_ns)
        return (
            STRICT_CSP.replace("script-src 'self'", "script-src 'self' 'wasm-unsafe-eval'")
            .replace("connect-src 'self'", "connect-src 'self' blob:")
            .replace("style-src 'self'", " ".join(["style-src 'self'", *hashes]))
        )


@functools.lru_cache(maxsize=4)
def _style_hashes(script: Path, mtime_ns: int) -> tuple[str, ...]:
    """model-viewer renders fixed `<style>` blocks into its shadow root; allow exactly those."""
    source = script.read_text(encoding="utf-8")
    digests = {hashlib.sha256(m.group(1).encode()).digest() for m in _STYLE_BLOCK.finditer(source)}
    return tuple(sorted(f"'sha256-{base64.b64encode(d).decode()}'" for d in digests))


@router.get(
    "/",
    responses={
        200: {
            "description": "The web page (`Accept: text/html`) or service info (JSON)",
            "content": {"application/json": {}, "text/html": {}},
        }
    },
)
async def root(request: Request) -> Response:
    """The web page for browsers; what this service is, as JSON, for other clients."""
    if prefers_html(request.headers.get("accept", "")):
        page: WebPage = request.app.state.web_page
        return page.response()
    return JSONResponse(await service_info(), headers={"Vary": "Accept"})


def prefers_html(accept: str) -> bool:
    """Whether `accept` ranks HTML above JSON: browsers do, `*/*` and JSON clients do not."""
    ranks: dict[str, float] = {}
    for part in accept.lower().split(","):
        media, *params = (p.strip() for p in part.split(";"))
        quality = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        ranks[media] = max(ranks.get(media, 0.0), quality)
    html = ranks.get("text/html", 0.0)
    json = ranks.get("application/json", ranks.get("application/*", ranks.get("*/*", 0.0)))
    return html > json


def install(app: FastAPI, settings: Settings) -> None:
    """The page at `/`, its files at /ui/ and the npm-installed viewer at /ui/vendor/."""
    app.state.web_page = WebPage(settings)
    app.include_router(router)
    vendor = settings.web_vendor_dir
    if vendor.is_dir():  # missing: the page loads and says the 3D viewer is not installed
        app.mount(VENDOR_PATH, StaticFiles(directory=vendor), name="ui-vendor")
    app.mount("/ui", StaticFiles(directory=WEB_DIR / "static"), name="ui")
