"""A fake FAL.AI queue and CDN: a real HTTPS server on loopback, with a request log and faults.

It speaks the queue protocol fal-client uses (submit → status → result, cancel, and the status
stream: server-sent events on each change, a comment every `stream_keepalive` seconds, closed
after COMPLETED) under a path prefix, answers with URLs of its own (so clients must use the
URLs the submit returned), checks the key, the model's image field and the image itself, and
serves GLB/PNG/WebP results.
Faults: scripted replies per call kind, random 500/429 (with Retry-After) rates with a bounded
streak per resource, slow replies, and requests that finish with an error.
"""

from __future__ import annotations

import base64
import io
import json
import random
import ssl
import tempfile
import threading
import time
import uuid
from collections import defaultdict, deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import trimesh
import trustme
from PIL import Image

from image2model.meshes import assimp

PREFIX = "/q"
PRICING_PATH = "/v1/models/pricing"
KINDS = ("submit", "status", "stream", "result", "cancel", "file")
TRIPO = "tripo3d/tripo/v2.5/image-to-3d"
ENDPOINTS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    TRIPO: ("image_url", "tripo_v25", ()),
    "tripo3d/tripo/v2.5/multiview-to-3d": ("front_image_url", "tripo_v25", ()),
    "tripo3d/h3.1/image-to-3d": ("image_url", "tripo", ()),
    "tripo3d/h3.1/multiview-to-3d": ("image_urls", "tripo", ()),
    "tripo3d/p1/image-to-3d": ("image_url", "tripo", ()),
    "fal-ai/hunyuan3d/v2": ("input_image_url", "mesh", ()),
    "fal-ai/hunyuan3d/v2/turbo": ("input_image_url", "mesh", ()),
    "fal-ai/hunyuan3d/v2/mini": ("input_image_url", "mesh", ()),
    "fal-ai/hunyuan3d/v2/mini/turbo": ("input_image_url", "mesh", ()),
    "fal-ai/hunyuan3d/v2/multi-view": (
        "front_image_url",
        "mesh",
        ("back_image_url", "left_image_url"),
    ),
    "fal-ai/hunyuan3d/v2/multi-view/turbo": (
        "front_image_url",
        "mesh",
        ("back_image_url", "left_image_url"),
    ),
    "fal-ai/hunyuan3d-v3/image-to-3d": ("input_image_url", "hunyuan3", ()),
    "fal-ai/hunyuan-3d/v3.1/pro/image-to-3d": ("input_image_url", "hunyuan3", ()),
    "fal-ai/hunyuan-3d/v3.1/rapid/image-to-3d": ("input_image_url", "hunyuan3", ()),
    "fal-ai/trellis": ("image_url", "mesh", ()),
    "fal-ai/trellis/multi": ("image_urls", "mesh", ()),
    "fal-ai/trellis-2": ("image_url", "glb_only", ()),
    "fal-ai/triposr": ("image_url", "mesh", ()),
    "fal-ai/hyper3d/rodin/v2.5": ("image_urls", "rodin", ()),
    "fal-ai/meshy/v6/image-to-3d": ("image_url", "meshy", ()),
    "fal-ai/meshy/v6/multi-image-to-3d": ("image_urls", "meshy", ()),
}
"""Each endpoint's required image field (fal's own names; `image_urls` is an array), the
shape of its result and its other required view fields, as fal's client types them. Any
other `*_image_url` sent must hold an image too. Others: `image_url`, a GLB and a thumbnail."""
FACES = {"model_mesh": 320, "pbr_model": 1280, "base_model": 80, "model_glb": 320}
_SUBDIVISIONS = {80: 1, 320: 2, 1280: 3}
FBX_FACES = 320
FBX_COLOUR = (30, 160, 90)


@dataclass
class Reply:
    """A scripted reply for the next call of one kind."""

    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    events: Iterator[bytes] | None = None
    """A server-sent event stream, written as it comes instead of `body`."""


@dataclass
class Entry:
    kind: str
    method: str
    path: str
    status: int
    received: float
    answered: float
    resource: str
    request_id: str | None = None
    body: Any = None
    retry_after: float | None = None


@dataclass
class FakeRequest:
    request_id: str
    endpoint: str
    arguments: dict[str, Any]
    submitted: float
    fails: bool = False
    cancelled: bool = False
    completed_at: float | None = None
    changed: threading.Event = field(default_factory=threading.Event)
    """Set by a cancel, so its status stream says so at once."""


class FakeFal:
    """The fake's state and knobs; tests read `log` and set attributes between steps."""

    def __init__(self, tmp: Path, *, key: str) -> None:
        self.key = key
        self.ca = trustme.CA()
        self.ca_file = tmp / "fake-fal-ca.pem"
        self.ca.cert_pem.write_to_path(str(self.ca_file))
        self.lock = threading.Lock()
        self.log: list[Entry] = []
        self.requests: dict[str, FakeRequest] = {}
        self.queue_seconds = 0.2
        self.run_seconds = 0.4
        self.queue_positions = 2
        self.delay: dict[str, float] = defaultdict(float)
        self.script: dict[str, deque[Reply]] = defaultdict(deque)
        self.rate_500 = 0.0
        self.rate_429 = 0.0
        self.retry_after = (1.0, 2.0)
        self.fault_kinds = frozenset({"submit", "status", "stream", "result"})
        self.max_streak = 3
        self.fail_results = False
        self.streams = True
        """False: the status stream answers 404, as from a proxy that does not pass it."""
        self.stream_keepalive = 1.0
        self.prices: dict[str, tuple[float, str]] = {}
        """What the pricing API says: endpoint → (unit price in USD, unit)."""
        self.stream_cut_after: float | None = None
        """Seconds after which each status stream is cut, as by a proxy."""
        self.random = random.Random(1234)
        self._streaks: dict[str, int] = defaultdict(int)
        self._files = _make_files()
        self.server = _Server(("127.0.0.1", 0), _Handler)
        self.server.fake = self
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
        # the handshake runs in each connection's own thread, as at a real front end; done
        # in accept() it would hold up every other connection behind it
        self.server.socket = context.wrap_socket(
            self.server.socket, server_side=True, do_handshake_on_connect=False
        )
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def serve_file(self, name: str, data: bytes) -> None:
        """Answer requests for the result file `name` (`model.fbx`) with `data` from now on."""
        self._files[name] = data

    def file_data(self, name: str) -> bytes:
        return self._files[name]

    @property
    def host(self) -> str:
        """Our FAL_QUEUE_HOST setting for this fake: host:port and the path prefix."""
        return f"127.0.0.1:{self.port}{PREFIX}"

    @property
    def base(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def start(self) -> FakeFal:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    # what tests read
    def entries(self, kind: str | None = None, status: int | None = None) -> list[Entry]:
        with self.lock:
            return [
                e
                for e in self.log
                if (kind is None or e.kind == kind) and (status is None or e.status == status)
            ]

    def queue_entries(self) -> list[Entry]:
        """What was asked of the queue and its files: everything but the API's price reads."""
        return [e for e in self.entries() if e.kind != "pricing"]

    def accepted(self) -> list[Entry]:
        """Submits the fake accepted: each one would be paid."""
        return self.entries("submit", 200)

    def max_in_flight(self) -> int:
        """Most requests that were submitted and not yet finished, at any moment."""
        with self.lock:
            spans = [(r.submitted, r.completed_at or time.time()) for r in self.requests.values()]
        events = sorted([(s, 1) for s, _ in spans] + [(e, -1) for _, e in spans])
        level = peak = 0
        for _, step in events:
            level += step
            peak = max(peak, level)
        return peak

    # request handling
    def handle(
        self, method: str, path: str, headers: dict[str, str], raw: bytes
    ) -> tuple[Entry, Reply]:
        received = time.time()
        kind, request_id, resource = self._route(method, path, raw)
        entry = Entry(kind, method, path, 0, received, 0.0, resource, request_id)
        reply = self._reply(kind, headers, entry, raw)
        time.sleep(self.delay[kind] + reply.delay)
        entry.status = reply.status
        if "Retry-After" in reply.headers:
            entry.retry_after = float(reply.headers["Retry-After"])
        return entry, reply

    def _route(self, method: str, path: str, raw: bytes) -> tuple[str, str | None, str]:
        path = path.split("?")[0]
        if path == PRICING_PATH:
            return "pricing", None, path
        if path.startswith("/files/"):
            return "file", path.split("/")[2], path
        rest = path.removeprefix(PREFIX + "/")
        if rest.startswith("requests/"):
            parts = rest.split("/")
            kind = {"status": "status", "cancel": "cancel", "stream": "stream"}.get(
                parts[-1], "result"
            )
            return kind, parts[1], f"{kind}:{parts[1]}"
        body_key = str(hash(raw))
        return "submit", None, f"submit:{rest}:{body_key}"

    def _reply(self, kind: str, headers: dict[str, str], entry: Entry, raw: bytes) -> Reply:
        if kind != "file" and headers.get("authorization") != f"Key {self.key}":
            return Reply(401, {"detail": "Invalid API key"})
        with self.lock:
            scripted = self.script[kind].popleft() if self.script[kind] else None
        if scripted is not None:
            return scripted
        fault = self._random_fault(kind, entry.resource)
        if fault is not None:
            return fault
        return getattr(self, f"_{kind}")(entry, raw)

    def _random_fault(self, kind: str, resource: str) -> Reply | None:
        if kind not in self.fault_kinds:
            return None
        with self.lock:
            roll = self.random.random()
            if self._streaks[resource] >= self.max_streak or roll >= self.rate_500 + self.rate_429:
                self._streaks[resource] = 0
                return None
            self._streaks[resource] += 1
            if roll < self.rate_500:
                return Reply(500, {"detail": "Internal server error"})
            wait = self.random.choice([int(v) for v in self.retry_after])
        return Reply(429, {"detail": "Too many requests"}, {"Retry-After": str(wait)})

    def _submit(self, entry: Entry, raw: bytes) -> Reply:
        endpoint = entry.path.split("?")[0].removeprefix(PREFIX + "/")
        arguments = json.loads(raw)
        image_field, _, required = ENDPOINTS.get(endpoint, ("image_url", "", ()))
        fields = {image_field, *required, *(k for k in arguments if k.endswith("_image_url"))}
        for name in sorted(fields):
            images = arguments.get(name)
            if name.endswith("_urls"):
                images = images if isinstance(images, list) and images else [None]
            else:
                images = [images]
            problem = next(filter(None, map(_check_image, images)), None)
            if problem:
                detail = [{"loc": ["body", name], "msg": problem, "type": "value_error"}]
                return Reply(422, {"detail": detail})
        request_id = uuid.uuid4().hex
        entry.request_id = request_id
        entry.body = arguments
        with self.lock:
            self.requests[request_id] = FakeRequest(
                request_id, endpoint, arguments, time.time(), fails=self.fail_results
            )
        url = f"{self.base}{PREFIX}/requests/{request_id}"
        body = {
            "request_id": request_id,
            "response_url": url,
            "status_url": f"{url}/status",
            "cancel_url": f"{url}/cancel",
            "queue_position": self.queue_positions,
        }
        return Reply(200, body)

    def _request(self, entry: Entry) -> FakeRequest | None:
        with self.lock:
            return self.requests.get(entry.request_id or "")

    def _state(self, request: FakeRequest) -> str:
        elapsed = time.time() - request.submitted
        if request.cancelled or elapsed >= self.queue_seconds + self.run_seconds:
            if request.completed_at is None:
                request.completed_at = time.time()
            return "COMPLETED"
        return "IN_QUEUE" if elapsed < self.queue_seconds else "IN_PROGRESS"

    def _status(self, entry: Entry, raw: bytes) -> Reply:
        request = self._request(entry)
        if request is None:
            return Reply(404, {"detail": "Request not found"})
        return Reply(200, self._status_body(request))

    def _stream(self, entry: Entry, raw: bytes) -> Reply:
        request = self._request(entry)
        if request is None or not self.streams:
            return Reply(404, {"detail": "Not found"})
        return Reply(200, events=self._events(request))

    def _events(self, request: FakeRequest) -> Iterator[bytes]:
        """Each change of the status as it happens; a comment while nothing changes."""
        sent = None
        opened = quiet_since = time.monotonic()
        cut = self.stream_cut_after
        while True:
            if cut is not None and time.monotonic() - opened > cut:
                return
            body = self._status_body(request)
            shown = (body["status"], body.get("queue_position"))
            if shown != sent:
                sent, quiet_since = shown, time.monotonic()
                yield f"data: {json.dumps(body)}\n\n".encode()
                if body["status"] == "COMPLETED":
                    return
            elif time.monotonic() - quiet_since >= self.stream_keepalive:
                quiet_since = time.monotonic()
                yield b": keep-alive\n\n"
            # asleep until the status can next change (no busy loop for many open streams)
            wait = min(self._next_change(request), self.stream_keepalive)
            if cut is not None:
                wait = min(wait, max(0.0, opened + cut - time.monotonic()))
            request.changed.wait(max(0.001, wait))

    def _next_change(self, request: FakeRequest) -> float:
        """Seconds until the status body of `request` changes on its own."""
        elapsed = time.time() - request.submitted
        ends = self.queue_seconds + self.run_seconds
        if elapsed < self.queue_seconds:  # the queue position drops in equal steps
            step = self.queue_seconds / max(1, self.queue_positions)
            return min(step - elapsed % step, self.queue_seconds - elapsed)
        return max(0.0, ends - elapsed)

    def _status_body(self, request: FakeRequest) -> dict[str, Any]:
        state = self._state(request)
        logs = [{"message": "Generating mesh", "level": "INFO", "timestamp": "2026-01-01T00:00:00"}]
        url = f"{self.base}{PREFIX}/requests/{request.request_id}"
        body: dict[str, Any] = {"status": state, "response_url": url}
        if state == "IN_QUEUE":
            share = 1 - (time.time() - request.submitted) / self.queue_seconds
            body["queue_position"] = max(0, int(share * self.queue_positions))
        elif state == "IN_PROGRESS":
            body["logs"] = logs
        else:
            body.update(logs=logs, metrics={"inference_time": self.run_seconds})
            if request.cancelled or request.fails:
                body.update(error="Generation failed", error_type="runner_server_error")
        return body

    def _result(self, entry: Entry, raw: bytes) -> Reply:
        request = self._request(entry)
        if request is None:
            return Reply(404, {"detail": "Request not found"})
        if self._state(request) != "COMPLETED":
            return Reply(400, {"detail": "Request is still in progress"})
        if request.cancelled:
            return Reply(400, {"detail": "Request was cancelled"})
        if request.fails:
            detail = [{"loc": ["body", "image_url"], "msg": "No object found in the image"}]
            return Reply(422, {"detail": detail}, {"x-fal-error-type": "image_load_error"})
        return Reply(200, self._outputs(request))

    def _cancel(self, entry: Entry, raw: bytes) -> Reply:
        request = self._request(entry)
        if request is None:
            return Reply(404, {"detail": "Request not found"})
        if self._state(request) == "COMPLETED":
            return Reply(400, {"status": "ALREADY_COMPLETED"})
        request.cancelled = True
        request.changed.set()
        return Reply(202, {"status": "CANCELLATION_REQUESTED"})

    def _pricing(self, entry: Entry, raw: bytes) -> Reply:
        """fal's platform API: the unit price of each endpoint asked for that it knows."""
        query = parse_qs(urlsplit(entry.path).query)
        wanted = [e for value in query.get("endpoint_id", []) for e in value.split(",")]
        if not 1 <= len(wanted) <= 50:
            return Reply(422, {"detail": "endpoint_id: between 1 and 50 ids"})
        rows = [
            {"endpoint_id": e, "unit_price": price, "unit": unit, "currency": "USD"}
            for e in wanted
            if e in self.prices
            for price, unit in [self.prices[e]]
        ]
        return Reply(200, {"prices": rows, "next_cursor": None, "has_more": False})

    def _file(self, entry: Entry, raw: bytes) -> Reply:
        name = entry.path.split("?")[0].rsplit("/", 1)[-1]
        data = self._files.get(name)
        return Reply(200, data) if data is not None else Reply(404, {"detail": "expired"})

    def _outputs(self, request: FakeRequest) -> dict[str, Any]:
        rid = request.request_id

        def file(name: str, content_type: str) -> dict[str, Any]:
            data = self._files[name]
            url = f"{self.base}/files/{rid}/{name}"
            return {"url": url, "content_type": content_type, "file_size": len(data)}

        glb, png = "model/gltf-binary", "image/png"
        fbx, usdz = ("model.fbx", "application/octet-stream"), ("model.usdz", "model/vnd.usdz+zip")
        shape = ENDPOINTS.get(request.endpoint, ("", "", ()))[1]
        # Tripo's quad mesh and Rodin's geometry_file_format=fbx come as FBX
        as_fbx = request.arguments.get("quad") or request.arguments.get("geometry_file_format")
        mesh = file(*fbx) if as_fbx in (True, "fbx") else file("model_mesh.glb", glb)
        if shape == "tripo_v25":
            out = {
                "model_mesh": mesh,
                "base_model": file("base_model.glb", glb),
                "rendered_image": file("preview.webp", "image/webp"),
                "task_id": rid,
            }
            if request.arguments.get("pbr"):
                out["pbr_model"] = file("pbr_model.glb", glb)
            return out
        if shape == "tripo":
            return {
                "model_mesh": mesh,
                "model_urls": {"glb": file("model_mesh.glb", glb), "fbx": file(*fbx)},
                "rendered_image": file("preview.webp", "image/webp"),
            }
        if shape == "mesh":
            return {"model_mesh": file("model_mesh.glb", glb), "seed": 42, "timings": {}}
        if shape == "hunyuan3":
            return {
                "model_glb": file("model_glb.glb", glb),
                "model_urls": {"glb": file("model_glb.glb", glb), "usdz": file(*usdz)},
                "thumbnail": file("preview.png", png),
                "seed": 42,
            }
        if shape == "glb_only":
            return {"model_glb": file("model_glb.glb", glb)}
        if shape == "rodin":
            return {
                "model_mesh": mesh,
                "seed": 42,
                "textures": [file("texture.png", png)],
            }
        if shape == "meshy":
            return {
                "model_glb": file("model_glb.glb", glb),
                "model_urls": {"glb": file("model_glb.glb", glb), "fbx": file(*fbx)},
                "thumbnail": file("preview.png", png),
                "texture_urls": [{"base_color": file("texture.png", png)}],
                "seed": 42,
            }
        return {"model_glb": file("model_glb.glb", glb), "thumbnail": file("preview.png", png)}


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # socketserver's 5 drops a burst of connects (1 s SYN retries)
    fake: FakeFal


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_PUT(self) -> None:
        self._serve()

    def _serve(self) -> None:
        fake = self.server.fake
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        entry, reply = fake.handle(self.command, self.path, headers, raw)
        if reply.events is not None:
            self._stream_events(reply.events)
        else:
            self._send(reply)
        entry.answered = time.time()
        with fake.lock:
            fake.log.append(entry)

    def _stream_events(self, events: Iterator[bytes]) -> None:
        self.close_connection = True  # the stream's end is the connection's
        try:
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-cache")
            self.send_header("Connection", "close")
            self.end_headers()
            for event in events:
                self.wfile.write(event)
                self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError, OSError):
            pass  # the client closed the stream

    def _send(self, reply: Reply) -> None:
        payload = reply.body if isinstance(reply.body, bytes) else json.dumps(reply.body).encode()
        try:
            self.send_response(reply.status)
            ctype = (
                "application/octet-stream" if isinstance(reply.body, bytes) else "application/json"
            )
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(payload)))
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
            pass  # the client gave up (a timeout test): the reply is still logged

    def log_message(self, format: str, *args: Any) -> None:
        return


def _check_image(value: Any) -> str | None:
    if not isinstance(value, str) or not value.startswith("data:image/"):
        return "field required: an image URL or data URI"
    try:
        _, encoded = value.split(",", 1)
        with Image.open(io.BytesIO(base64.b64decode(encoded))) as image:
            image.load()
    except (ValueError, OSError):
        return "not a readable image"
    return None


def _make_files() -> dict[str, bytes]:
    files = {}
    for name, faces in FACES.items():
        mesh = trimesh.creation.icosphere(subdivisions=_SUBDIVISIONS[faces])
        files[f"{name}.glb"] = mesh.export(file_type="glb")
    for fmt in ("png", "webp"):
        out = io.BytesIO()
        Image.new("RGB", (64, 48), (200, 120, 40)).save(out, fmt.upper())
        files[f"preview.{fmt}"] = out.getvalue()
    out = io.BytesIO()
    Image.new("RGB", (32, 32), (90, 90, 90)).save(out, "PNG")
    files["texture.png"] = out.getvalue()
    files["model.fbx"] = _textured_fbx()
    files["model.usdz"] = b"PK\x03\x04" + bytes(64)  # a USDZ is a zip
    return files


def _textured_fbx() -> bytes:
    """A textured icosphere of FBX_FACES faces as FBX (its texture embedded), by assimp."""
    found = assimp.find(None)
    assert found is not None, "the fake's FBX model is made with assimp (cmeel-assimp)"
    mesh = trimesh.creation.icosphere(subdivisions=_SUBDIVISIONS[FBX_FACES])
    texture = Image.new("RGB", (16, 16), FBX_COLOUR)
    uv = (mesh.vertices[:, :2] + 1) / 2
    mesh.visual = trimesh.visual.TextureVisuals(uv=uv, image=texture)
    with tempfile.TemporaryDirectory() as folder:
        source = Path(folder) / "model.glb"
        source.write_bytes(mesh.export(file_type="glb"))
        return found.export(source, source.with_suffix(".fbx"), "fbx").read_bytes()


def decoded_image(arguments: dict[str, Any], field_name: str = "image_url") -> bytes:
    """The image bytes a submit carried (the first, where the field is a list)."""
    value = arguments[field_name]
    value = value[0] if isinstance(value, list) else value
    return base64.b64decode(value.split(",", 1)[1])
