"""The verbs every adapter calls: submit, get, cancel, delete."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import anyio
from redis.exceptions import RedisError

from image2model.errors import NotFound, ServiceUnavailable
from image2model.identity import Principal
from image2model.images import PreparedImage
from image2model.jobs.models import Item, ItemStatus, Job, JobOptions, JobStatus
from image2model.jobs.pipeline import failure_patch
from image2model.jobs.store import JobStore
from image2model.storage import Storage, atomic_write_bytes, is_id, new_id, unique_stems

log = logging.getLogger(__name__)

Dispatch = Callable[[str], Awaitable[None]]
"""Queue `process_batch(job_id)`."""


@dataclass(frozen=True)
class AcceptedImage:
    filename: str
    original_size: int
    image: PreparedImage


class JobService:
    def __init__(self, *, store: JobStore, storage: Storage, dispatch: Dispatch) -> None:
        self.store = store
        self.storage = storage
        self.dispatch = dispatch

    async def submit(
        self,
        *,
        owner: Principal,
        images: Sequence[AcceptedImage],
        options: JobOptions,
        request_id: str | None = None,
    ) -> Job:
        """Save the images, record the job, then queue it; a failed enqueue fails the job."""
        job_id = new_id()
        stems = unique_stems([image.filename for image in images])
        items = []
        for image, stem in zip(images, stems, strict=True):
            file_id = new_id()
            stored_name = f"{file_id}.{image.image.extension}"
            items.append(
                Item(
                    file_id=file_id,
                    filename=image.filename,
                    stem=stem,
                    stored_name=stored_name,
                    file_size=image.original_size,
                    content_type=image.image.content_type,
                )
            )
        now = time.time()
        job = Job(
            job_id=job_id,
            owner=owner.key_id,
            status=JobStatus.QUEUED,
            options=options,
            created_at=now,
            updated_at=now,
            items=items,
            request_id=request_id,
        )
        try:
            await anyio.to_thread.run_sync(self._save_uploads, job, images)
            await self.store.create(job)
        except BaseException:
            self.storage.delete_job(job_id)
            raise
        await self._queue(job)
        return job

    def _save_uploads(self, job: Job, images: Sequence[AcceptedImage]) -> None:
        for item, image in zip(job.items, images, strict=True):
            atomic_write_bytes(
                self.storage.upload_path(job.job_id, item.stored_name), image.image.data
            )

    async def _queue(self, job: Job) -> None:
        try:
            await self.dispatch(job.job_id)
        except Exception as error:  # any broker failure: the job must not look queued
            log.error("job.enqueue.failed job_id=%s error=%s", job.job_id, error)
            patch = failure_patch("QUEUE_UNAVAILABLE", "The job could not be queued")
            for item in job.items:
                await self.store.update_item(job.job_id, item.file_id, patch)
            raise ServiceUnavailable("The job queue is unavailable; try again later") from None

    async def resubmit(
        self,
        *,
        owner: Principal,
        file_ids: Sequence[str],
        options: JobOptions,
        request_id: str | None = None,
    ) -> Job:
        """A new job from images uploaded before (by the same key), with new options."""
        sources = [await self._uploaded(file_id, owner) for file_id in file_ids]
        images = await anyio.to_thread.run_sync(self._reload, sources)
        return await self.submit(owner=owner, images=images, options=options, request_id=request_id)

    async def _uploaded(self, file_id: str, owner: Principal) -> tuple[str, Item]:
        job_id = await self.store.job_of_file(file_id) if is_id(file_id) else None
        job = await self.store.get(job_id) if job_id else None
        item = job.item(file_id) if job else None
        if job is None or item is None or not owner.can_see(job.owner):
            raise NotFound(f"Uploaded file {file_id[:40]} not found", error_code="FILE_NOT_FOUND")
        return job.job_id, item

    def _reload(self, sources: list[tuple[str, Item]]) -> list[AcceptedImage]:
        images = []
        for job_id, item in sources:
            path = self.storage.upload_path(job_id, item.stored_name)
            if not path.is_file():
                raise NotFound(
                    f"Uploaded file {item.file_id} was cleaned up", error_code="FILE_NOT_FOUND"
                )
            data = path.read_bytes()
            extension = item.stored_name.rsplit(".", 1)[-1]
            image = PreparedImage(data, extension, item.content_type, 0, 0)
            images.append(AcceptedImage(item.filename, item.file_size, image))
        return images

    async def get(self, job_id: str, principal: Principal) -> Job:
        """The job if it exists and the caller may see it; one 404 for both other cases."""
        job = await self.store.get(job_id) if is_id(job_id) else None
        if job is None or not principal.can_see(job.owner):
            raise NotFound("Job not found", error_code="JOB_NOT_FOUND")
        return job

    async def cancel(self, job_id: str, principal: Principal) -> Job:
        """Cancel every unfinished item; workers notice and stop (a paid request too)."""
        job = await self.get(job_id, principal)
        for item in job.items:
            if not item.status.is_terminal:
                patch = {"status": ItemStatus.CANCELLED.value, "message": "Cancelled"}
                await self.store.update_item(job_id, item.file_id, patch)
        return await self.get(job_id, principal)

    async def delete(self, job_id: str, principal: Principal) -> None:
        job = await self.cancel(job_id, principal)
        await self.store.delete(job_id, job.owner)
        await anyio.to_thread.run_sync(self.storage.delete_job, job_id)


async def redis_alive(store: JobStore) -> bool:
    try:
        return bool(await store.redis.ping())
    except (RedisError, OSError):
        return False
