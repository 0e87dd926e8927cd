"""FAL.AI provider: models, the queue client, the shared concurrency cap and the per-item run."""

from image2model.providers.fal.provider import FalProvider

__all__ = ["FalProvider"]
