"""`image2model generate`: the service's pipeline run in-process, one image after another."""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Any, TextIO

from image2model import heap, meshes
from image2model.config import Settings, load_settings
from image2model.errors import AppError
from image2model.generation import make_model, scaled
from image2model.images import prepare_image
from image2model.providers.base import Cancelled, GenerationRequest, Provider, ProviderError
from image2model.providers.registry import build_providers
from image2model.storage import atomic_copy, unique_stems

_FAILURES = (
    ProviderError,
    meshes.InvalidModel,
    meshes.ConversionFailed,
    AppError,
    Cancelled,
    OSError,
)


class ProgressBar:
    """One line on a terminal, redrawn in place with `\\r`."""

    WIDTH = 24

    def __init__(self, label: str, stream: TextIO) -> None:
        self.label = label
        self.stream = stream

    def update(self, progress: float, message: str) -> None:
        """Redraw at `progress` (0–100) with a short message."""
        filled = round(self.WIDTH * max(0.0, min(progress, 100.0)) / 100)
        bar = "#" * filled + "." * (self.WIDTH - filled)
        line = f"\r{self.label[:24]:<24} [{bar}] {progress:3.0f}% {message[:44]:<44}"
        self.stream.write(line)
        self.stream.flush()

    def close(self) -> None:
        """End the line so later output starts on a fresh one."""
        self.stream.write("\n")
        self.stream.flush()


class _Context:
    """What the provider sees of this run: progress goes to the bar, nothing is cancelled."""

    def __init__(self, bar: ProgressBar) -> None:
        self.bar = bar
        self.state: dict[str, Any] = {}

    def report(self, progress: float, message: str) -> None:
        self.bar.update(scaled(progress), message)

    def step(self, progress: float, message: str) -> None:
        self.bar.update(progress, message)

    def load_state(self) -> dict[str, Any]:
        return dict(self.state)

    def save_state(self, state: dict[str, Any]) -> None:
        self.state = dict(state)

    def is_cancelled(self) -> bool:
        return False


def generate_command(args: argparse.Namespace) -> int:
    """Make a model for each of `args.images`; 0 if all succeeded, 1 if any failed, 2 on usage."""
    settings = load_settings()
    tools = meshes.Tools.find(settings.ASSIMP_COMMAND)
    try:
        formats = parse_formats(args.format)
        for fmt in formats:
            if fmt in tools.unavailable():
                raise ValueError(f"cannot write {fmt}: {tools.unavailable()[fmt]}")
        provider = _provider(args.provider or settings.default_provider, settings)
        options = _options(provider, args.shape)
    except ValueError as error:
        print(f"image2model generate: {error}", file=sys.stderr)
        return 2
    face_limit = args.face_limit if args.face_limit is not None else settings.DEFAULT_FACE_LIMIT
    out_dir = Path(args.output)
    out_dir.mkdir(parents=True, exist_ok=True)
    images = [Path(name) for name in args.images]
    failed = 0
    heap.keep_large_blocks_mapped()
    with tempfile.TemporaryDirectory(prefix="image2model-") as scratch:
        for image, stem in zip(images, unique_stems([i.name for i in images]), strict=True):
            job = _Job(image, stem, Path(scratch) / stem, out_dir, settings, tools)
            failed += not job.run(provider, formats, face_limit, options)
            heap.give_back()
    print(f"{len(images) - failed} of {len(images)} models written to {out_dir}")
    return 1 if failed else 0


def parse_formats(text: str) -> list[str]:
    """`glb,obj` → ["glb", "obj"]; ValueError naming what is allowed."""
    formats = [f.strip().lower() for f in text.split(",") if f.strip()]
    unknown = [f for f in formats if f not in meshes.FORMATS]
    if unknown or not formats:
        raise ValueError(f"unknown format {', '.join(unknown)!r}; use {','.join(meshes.FORMATS)}")
    return list(dict.fromkeys(formats))


def _options(provider: Provider, shape: str | None) -> dict[str, Any]:
    if shape is None:
        return {}
    if provider.name != "local":
        raise ValueError("--shape applies to the offline generator (--provider local) only")
    return {"shape": shape}


def _provider(name: str, settings: Settings) -> Provider:
    providers = build_providers(settings)
    if name not in providers:
        raise ValueError(f"unknown provider {name!r}; available: {', '.join(sorted(providers))}")
    return providers[name]


class _Job:
    """One image: prepared, generated and post-processed in scratch, delivered to `out_dir`."""

    def __init__(
        self,
        image: Path,
        stem: str,
        scratch: Path,
        out_dir: Path,
        settings: Settings,
        tools: meshes.Tools,
    ) -> None:
        self.image, self.stem, self.scratch, self.out_dir = image, stem, scratch, out_dir
        self.settings, self.tools = settings, tools
        self.bar = ProgressBar(image.name, sys.stderr)

    def run(
        self,
        provider: Provider,
        formats: list[str],
        face_limit: int | None,
        options: dict[str, Any],
    ) -> bool:
        """True when every requested file was delivered; failures are printed, not raised."""
        try:
            delivered = self._produce(provider, formats, face_limit, options)
        except _FAILURES as error:
            self.bar.close()
            code = getattr(error, "code", None) or type(error).__name__
            message = getattr(error, "message", None) or str(error)
            print(f"{self.image}: failed: {code}: {message}", file=sys.stderr)
            return False
        self.bar.update(100, "done")
        self.bar.close()
        print(f"{self.image} -> {', '.join(str(path) for path in delivered)}")
        return True

    def _produce(
        self,
        provider: Provider,
        formats: list[str],
        face_limit: int | None,
        options: dict[str, Any],
    ) -> list[Path]:
        self.bar.update(0, "reading image")
        with self.image.open("rb") as original:
            prepared = prepare_image(
                original, filename=self.image.name, max_pixels=self.settings.MAX_IMAGE_PIXELS
            )
        self.scratch.mkdir(parents=True)
        source = self.scratch / f"input.{prepared.extension}"
        source.write_bytes(prepared.data)
        request = GenerationRequest(
            source, self.scratch / "work", face_limit=face_limit, options=options
        )
        context = _Context(self.bar)
        final = make_model(
            provider, request, context, result_dir=self.scratch / "final", stem=self.stem
        )
        made = [meshes.convert(final.glb_path, fmt, self.tools) for fmt in formats]
        return [self._deliver(path) for path in [*made, final.preview_path]]

    def _deliver(self, path: Path) -> Path:
        target = self.out_dir / path.name
        atomic_copy(path, target)
        # The temporary file behind the atomic copy is private; deliveries are ordinary files.
        target.chmod(0o644)
        return target
