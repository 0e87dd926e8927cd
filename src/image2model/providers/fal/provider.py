"""The `fal` provider: FAL.AI's hosted image-to-3D models through the official fal-client."""

from __future__ import annotations

from functools import cached_property

import httpx

from image2model import redis_clients
from image2model.config import Settings
from image2model.meshes import assimp
from image2model.providers.base import (
    GenerationRequest,
    GenerationResult,
    ModelSpec,
    ProviderContext,
    ProviderError,
)
from image2model.providers.fal.catalogue import KNOWN
from image2model.providers.fal.models import FalModel, catalogue
from image2model.providers.fal.queue import FalQueue
from image2model.providers.fal.run import FalRun, Limits
from image2model.providers.fal.slots import SlotPool
from image2model.providers.fal.submits import SubmitRate


class FalProvider:
    """Always registered; without FAL_KEY every item fails PROVIDER_NOT_CONFIGURED."""

    name = "fal"
    io_bound = True
    """Waiting on fal is the whole job: items run on the I/O worker's threads when one is up."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.assimp = assimp.find(settings.ASSIMP_COMMAND)
        known = KNOWN
        if self.assimp is None:
            reason = f"it makes an FBX file, and {assimp.missing_reason(settings.ASSIMP_COMMAND)}"
            known = tuple(model.refusing_fbx(reason) for model in KNOWN)
        self.catalogue = catalogue(known, settings.FAL_MODEL_ENDPOINT)
        self.models: tuple[ModelSpec, ...] = tuple(m.spec for m in self.catalogue)

    @property
    def unconfigured(self) -> str | None:
        """Why new jobs cannot choose fal here."""
        return None if self.settings.fal_configured else "FAL_KEY is not set"

    def generate(self, request: GenerationRequest, context: ProviderContext) -> GenerationResult:
        """Run the item on fal (or resume its stored request) and download the files."""
        key = self._key()
        run = FalRun(
            queue=self._queue,
            slots=self._slots,
            submits=self._submits,
            downloads=self._downloads,
            model=self._model(request.model),
            request=request,
            context=context,
            limits=Limits(
                poll_interval=self.settings.FAL_POLL_INTERVAL,
                deadline=self.settings.FAL_ITEM_DEADLINE,
                max_retries=self.settings.FAL_MAX_RETRIES,
            ),
            key=key,
            assimp=self.assimp,
        )
        return run.execute()

    def _key(self) -> str:
        if not self.settings.fal_configured or self.settings.FAL_KEY is None:
            raise ProviderError(
                "PROVIDER_NOT_CONFIGURED", "The fal provider needs FAL_KEY on the worker"
            )
        return self.settings.FAL_KEY.get_secret_value()

    def _model(self, model_id: str | None) -> FalModel:
        return next((m for m in self.catalogue if m.endpoint == model_id), self.catalogue[0])

    # Clients are made on first use: after the worker's fork, never at import or in the API.
    @cached_property
    def _queue(self) -> FalQueue:
        return FalQueue(
            self._key(),
            host=self.settings.FAL_QUEUE_HOST,
            timeout=self.settings.FAL_REQUEST_TIMEOUT,
        )

    @cached_property
    def _slots(self) -> SlotPool:
        client = redis_clients.blocking(self.settings.redis_url, decode_responses=True)
        return SlotPool(client, self.settings.FAL_MAX_CONCURRENCY)

    @cached_property
    def _submits(self) -> SubmitRate | None:
        rate = self.settings.FAL_SUBMIT_RATE_LIMIT
        return None if rate is None else SubmitRate(self._slots.redis, rate, self._key())

    @cached_property
    def _downloads(self) -> httpx.Client:
        # No fal credentials here: result URLs may point at any host.
        return httpx.Client(timeout=self.settings.FAL_REQUEST_TIMEOUT, follow_redirects=True)
