"""A provider for tests: sleeps as told, fails red images, and logs every call to Redis."""

from __future__ import annotations

import time

import numpy as np
import trimesh
from PIL import Image

from image2model import redis_clients
from image2model.config import Settings
from image2model.providers.base import (
    Cancelled,
    GenerationRequest,
    GenerationResult,
    ModelSpec,
    OptionSpec,
    ProviderContext,
    ProviderError,
)

CALLS_KEY = "test:provider:calls"


class SleepyProvider:
    """Takes `delay` seconds, reporting progress in steps; a red object fails. Its model is a
    closed icosphere 2 units across, or with `open` a bowl (its top faces removed)."""

    name = "sleepy"
    models = (
        ModelSpec(
            id="sleepy",
            name="Sleepy test model",
            options=(
                OptionSpec("face_limit", "int", minimum=100, maximum=100_000),
                OptionSpec("delay", "float", default=0.2, minimum=0, maximum=60),
                OptionSpec("steps", "int", default=4, minimum=1, maximum=100),
                OptionSpec("crash", "bool", default=False),
                OptionSpec("open", "bool", default=False),
            ),
        ),
    )

    def __init__(self, settings: Settings) -> None:
        self.redis = redis_clients.blocking(settings.redis_url, decode_responses=True)

    def generate(self, request: GenerationRequest, context: ProviderContext) -> GenerationResult:
        item = f"{request.image_path.parent.name}:{request.image_path.stem}"
        self.redis.rpush(CALLS_KEY, f"start {item}")
        delay = float(request.options.get("delay", 0.2))
        steps = int(request.options.get("steps", 4))
        for step in range(steps):
            if context.is_cancelled():
                raise Cancelled
            time.sleep(delay / steps)
            context.report(100 * (step + 1) / steps, f"step {step + 1} of {steps}")
        if request.options.get("crash"):
            raise RuntimeError("a bug in a provider")
        if _is_red(request):
            raise ProviderError("TEST_RED_IMAGE", "Red images cannot be modelled by this provider")
        mesh = trimesh.creation.icosphere(subdivisions=2)
        if request.options.get("open"):
            mesh.update_faces(mesh.triangles_center[:, 1] < 0.9)
        path = request.work_dir / "model.glb"
        mesh.export(path)
        self.redis.rpush(CALLS_KEY, f"done {item}")
        return GenerationResult(model_path=path)


def _is_red(request: GenerationRequest) -> bool:
    """The centre pixel decides, so a red object on any background fails."""
    with Image.open(request.image_path) as image:
        pixels = np.asarray(image.convert("RGB"), dtype=np.int32)
    r, g, b = pixels[pixels.shape[0] // 2, pixels.shape[1] // 2]
    return bool(r > 180 and g < 80 and b < 80)


def build(settings: Settings) -> SleepyProvider:
    return SleepyProvider(settings)
