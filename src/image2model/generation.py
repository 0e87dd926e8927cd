"""One prepared image to one finished model: the steps `image2model generate` and the workers
share, so the command line and the service cannot make different models."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Protocol

from image2model import meshes
from image2model.errors import StorageFull, is_storage_full
from image2model.providers.base import GenerationRequest, Provider, ProviderContext

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
        context.step(PROVIDER_SPAN[0], f"Generating with {provider.name}")
        result = provider.generate(request, context)
        context.step(PROVIDER_SPAN[1], "Post-processing model")
        return meshes.finalize_model(
            result.model_path,
            result_dir,
            stem,
            face_limit=request.face_limit,
            face_limit_applied=result.face_limit_applied,
            preview=result.preview_path,
        )
    except OSError as error:
        if not is_storage_full(error):
            raise
        for leftover in (result_dir / f"{stem}.glb", result_dir / f"{stem}.png"):
            leftover.unlink(missing_ok=True)
        raise StorageFull(
            "The server's disk is full; send the image again once space is freed"
        ) from None
    finally:
        shutil.rmtree(request.work_dir, ignore_errors=True)
