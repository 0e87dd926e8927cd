"""One prepared image to one finished model: the steps `image2model generate` and the workers
share, so the command line and the service cannot make different models."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Protocol

from image2model import meshes
from image2model.errors import StorageFull, is_storage_full
from image2model.providers.base import (
    GenerationRequest,
    GenerationResult,
    Provider,
    ProviderContext,
)

PROVIDER_SPAN = (5.0, 90.0)
"""Share of an item's progress (0–100) given to the provider; the rest is post-processing."""


class StepContext(ProviderContext, Protocol):
    """A provider context that also shows the pipeline's own steps."""

    def step(self, progress: float, message: str) -> None:
        """Show the item at `progress` (0–100 of the whole item) with `message`."""
        ...


def scaled(progress: float) -> float:
    """A provider's own 0–100 as the item's progress inside `PROVIDER_SPAN`."""
    low, high = PROVIDER_SPAN
    return low + (high - low) * max(0.0, min(progress, 100.0)) / 100.0


def make_model(
    provider: Provider,
    request: GenerationRequest,
    context: StepContext,
    *,
    result_dir: Path,
    stem: str,
) -> meshes.FinalModel:
    """Generate, then post-process into `result_dir/<stem>.glb` and its preview; the work
    directory is removed either way. Raises ProviderError, Cancelled, InvalidModel, or
    StorageFull (leaving none of the item's files) when the disk is full."""
    try:
        result = generate(provider, request, context)
        return finish(result, request, context, result_dir=result_dir, stem=stem)
    finally:
        shutil.rmtree(request.work_dir, ignore_errors=True)


def generate(
    provider: Provider, request: GenerationRequest, context: StepContext
) -> GenerationResult:
    """The provider's model and preview in the work directory (the part that waits on a
    remote service); on failure the work directory is removed. Raises as `make_model`."""
    try:
        context.step(PROVIDER_SPAN[0], f"Generating with {provider.name}")
        with _storage_errors(request.work_dir, []):
            return provider.generate(request, context)
    except BaseException:
        shutil.rmtree(request.work_dir, ignore_errors=True)
        raise


def finish(
    result: GenerationResult,
    request: GenerationRequest,
    context: StepContext,
    *,
    result_dir: Path,
    stem: str,
) -> meshes.FinalModel:
    """Post-process a generated model into `result_dir` (the CPU-bound part); the work
    directory is left to the caller. Raises InvalidModel or StorageFull."""
    context.step(PROVIDER_SPAN[1], "Post-processing model")
    leftovers = [result_dir / f"{stem}.glb", result_dir / f"{stem}.png"]
    with _storage_errors(request.work_dir, leftovers):
        return meshes.finalize_model(
            result.model_path,
            result_dir,
            stem,
            face_limit=request.face_limit,
            face_limit_applied=result.face_limit_applied,
            preview=result.preview_path,
        )


@contextmanager
def _storage_errors(work_dir: Path, leftovers: list[Path]) -> Iterator[None]:
    """A full disk becomes StorageFull, and none of the item's files stay behind."""
    try:
        yield
    except OSError as error:
        if not is_storage_full(error):
            raise
        for leftover in leftovers:
            leftover.unlink(missing_ok=True)
        shutil.rmtree(work_dir, ignore_errors=True)
        raise StorageFull(
            "The server's disk is full; send the image again once space is freed"
        ) from None
