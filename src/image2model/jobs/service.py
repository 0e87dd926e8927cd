"""The verbs every adapter calls: submit, get, cancel, delete."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import BinaryIO

import anyio
from redis.exceptions import RedisError

from image2model.errors import (
    NotFound,
    RateLimited,
    ServiceUnavailable,
    StorageFull,
    is_storage_full,
)
from image2model.identity import Principal
from image2model.images import prepare_image
from image2model.jobs import transitions
from image2model.jobs.models import Item, Job, JobCost, JobOptions, JobStatus, View
from image2model.jobs.store import JobStore
from image2model.storage import (
    Storage,
    atomic_copy,
    atomic_write_bytes,
    is_id,
    new_id,
    unique_stems,
)

log = logging.getLogger(__name__)

Dispatch = Callable[[str], Awaitable[None]]
"""Queue `process_batch(job_id)`."""


@dataclass(frozen=True)
class Upload:
    """An uploaded file as the API received it (spooled to disk by the multipart parser):
    one object's image, or its front with its other `views` by side."""

    filename: str
    source: BinaryIO
    name: str | None = None
    """The object's name, where the client gave one (its results are named after it)."""
    views: tuple[tuple[str, Upload], ...] = ()


class JobService:
    def __init__(
        self,
        *,
        store: JobStore,
        storage: Storage,
        dispatch: Dispatch,
        max_image_pixels: int,
        max_active_jobs: int,
        decode_concurrency: int = 2,
    ) -> None:
        self.store = store
        self.storage = storage
        self.dispatch = dispatch
        self.max_image_pixels = max_image_pixels
        self.max_active_jobs = max_active_jobs
        # Decoding a photo takes ~3 bytes per pixel. A few dedicated threads bound how many
        # happen at once, and keep the freed memory in a few malloc arenas instead of one
        # per thread of the shared pool (which made RSS grow with the number of threads used).
        self._decoders = ThreadPoolExecutor(decode_concurrency, thread_name_prefix="decode")

    async def check_capacity(self, owner: Principal) -> None:
        """Refuse early (before reading a body) when the key already has too many active jobs."""
        if (
            self.max_active_jobs
            and await self.store.active_jobs_of(owner.key_id) >= self.max_active_jobs
        ):
            raise _too_many_active(self.max_active_jobs)

    async def submit(
        self,
        *,
        owner: Principal,
        uploads: Sequence[Upload],
        options: JobOptions,
        request_id: str | None = None,
        cost: JobCost | None = None,
    ) -> Job:
        """Check and store each image, record the job, then queue it."""
        job_id = new_id()
        stems = unique_stems([upload.name or upload.filename for upload in uploads])
        async with self._cleanup_on_failure(job_id):
            items = [
                await self._store_upload(job_id, upload, stem)
                for upload, stem in zip(uploads, stems, strict=True)
            ]
            return await self._create(job_id, owner, items, options, request_id, cost)

    async def resubmit(
        self,
        *,
        owner: Principal,
        file_ids: Sequence[str],
        options: JobOptions,
        request_id: str | None = None,
        check: Callable[[list[Item]], None] | None = None,
        cost: JobCost | None = None,
    ) -> Job:
        """A new job from images uploaded before (visible to the same key), with new options;
        `check` may refuse their items (views the chosen model cannot take)."""
        sources = [await self._uploaded(file_id, owner) for file_id in file_ids]
        if check is not None:
            check([item for _, item in sources])
        job_id = new_id()
        stems = unique_stems([item.filename for _, item in sources])
        async with self._cleanup_on_failure(job_id):
            items = []
            for (source_job, item), stem in zip(sources, stems, strict=True):
                items.append(
                    await anyio.to_thread.run_sync(
                        self._copy_upload, source_job, item, job_id, stem
                    )
                )
            return await self._create(job_id, owner, items, options, request_id, cost)

    @contextlib.asynccontextmanager
    async def _cleanup_on_failure(self, job_id: str) -> AsyncIterator[None]:
        """Nothing of a refused job stays on disk; a full disk is a 507, not a crash."""
        try:
            yield
        except BaseException as error:
            await anyio.to_thread.run_sync(self.storage.delete_job, job_id)
            if is_storage_full(error):
                raise StorageFull("The server's storage is full; try again later") from None
            raise

    async def _store_upload(self, job_id: str, upload: Upload, stem: str) -> Item:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._decoders, self._normalise, job_id, upload, stem)

    def close(self) -> None:
        self._decoders.shutdown(wait=False, cancel_futures=True)

    def _normalise(self, job_id: str, upload: Upload, stem: str) -> Item:
        file_id = new_id()
        size, stored_name, content_type = self._store_image(job_id, upload, file_id)
        views = []
        for side, view in upload.views:
            _, stored, _ = self._store_image(job_id, view, f"{file_id}-{side}")
            views.append(View(role=side, filename=view.filename, stored_name=stored))
        return Item(
            file_id=file_id,
            filename=upload.filename,
            stem=stem,
            stored_name=stored_name,
            file_size=size,
            content_type=content_type,
            views=views,
        )

    def _store_image(self, job_id: str, upload: Upload, name: str) -> tuple[int, str, str]:
        """Check and store one image as `name.<ext>`: its size as sent, stored name, type."""
        size = upload.source.seek(0, 2)
        upload.source.seek(0)
        image = prepare_image(
            upload.source, filename=upload.filename, max_pixels=self.max_image_pixels
        )
        stored_name = f"{name}.{image.extension}"
        atomic_write_bytes(self.storage.upload_path(job_id, stored_name), image.data)
        return size, stored_name, image.content_type

    def _copy_upload(self, source_job: str, item: Item, job_id: str, stem: str) -> Item:
        """The item's images (its front and any other views) copied into `job_id`."""
        file_id = new_id()

        def copy(stored_name: str, name: str) -> str:
            path = self.storage.upload_path(source_job, stored_name)
            if not path.is_file():
                raise NotFound(
                    f"Uploaded file {item.file_id} was cleaned up", error_code="FILE_NOT_FOUND"
                )
            copied = f"{name}.{stored_name.rsplit('.', 1)[-1]}"
            atomic_copy(path, self.storage.upload_path(job_id, copied))
            return copied

        views = [
            view.model_copy(
                update={"stored_name": copy(view.stored_name, f"{file_id}-{view.role}")}
            )
            for view in item.views
        ]
        return item.model_copy(
            update={
                "file_id": file_id,
                "stored_name": copy(item.stored_name, file_id),
                "stem": stem,
                "views": views,
            }
        )

    async def uploaded_file(self, file_id: str, principal: Principal) -> tuple[Job, Item]:
        """The job an uploaded file went into and its item; one 404 for unknown and foreign."""
        job_id = await self.store.job_of_file(file_id) if is_id(file_id) else None
        job = await self.store.get(job_id) if job_id else None
        item = job.item(file_id) if job else None
        if job is None or item is None or not principal.can_see(job.owner, job.job_id):
            raise NotFound(f"Uploaded file {file_id[:40]} not found", error_code="FILE_NOT_FOUND")
        return job, item

    async def recent(self, principal: Principal, limit: int) -> list[str]:
        """Ids of the newest `limit` jobs the caller may see, newest first."""
        owner = None if principal.is_admin else principal.key_id
        return [summary.job_id for summary in await self.store.summaries(owner=owner)][:limit]

    async def _uploaded(self, file_id: str, owner: Principal) -> tuple[str, Item]:
        job, item = await self.uploaded_file(file_id, owner)
        return job.job_id, Item(
            file_id=item.file_id,
            filename=item.filename,
            stem=item.stem,
            stored_name=item.stored_name,
            file_size=item.file_size,
            content_type=item.content_type,
            views=item.views,
        )

    async def _create(
        self,
        job_id: str,
        owner: Principal,
        items: list[Item],
        options: JobOptions,
        request_id: str | None,
        cost: JobCost | None,
    ) -> Job:
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
            cost=cost,
        )
        if not await self.store.create(job, max_active=self.max_active_jobs):
            raise _too_many_active(self.max_active_jobs)
        await self._queue(job)
        log.info("job.queued job_id=%s items=%d", job_id, job.total, extra={"job_id": job_id})
        return job

    async def _queue(self, job: Job) -> None:
        try:
            await self.dispatch(job.job_id)
        except Exception as error:  # any broker failure: the job must not look queued
            log.error(
                "job.enqueue.failed job_id=%s error=%s",
                job.job_id,
                error,
                extra={"job_id": job.job_id},
            )
            patch = transitions.fail("QUEUE_UNAVAILABLE", "The job could not be queued")
            for item in job.items:
                await self.store.apply(job.job_id, item.file_id, patch)
            raise ServiceUnavailable("The job queue is unavailable; try again later") from None

    async def get(self, job_id: str, principal: Principal) -> Job:
        """The job if it exists and the caller may see it; one 404 for both other cases."""
        job = await self.store.get(job_id) if is_id(job_id) else None
        if job is None or not principal.can_see(job.owner, job_id):
            raise NotFound("Job not found", error_code="JOB_NOT_FOUND")
        return job

    async def cancel(self, job_id: str, principal: Principal) -> Job:
        """Cancel every unfinished item; workers notice and stop (a paid request too)."""
        job = await self.get(job_id, principal)
        for item in job.items:
            if not item.status.is_terminal:
                await self.store.apply(job_id, item.file_id, transitions.cancel())
        return await self.get(job_id, principal)

    async def delete(self, job_id: str, principal: Principal) -> None:
        job = await self.cancel(job_id, principal)
        await self.store.delete(job_id, job.owner)
        await anyio.to_thread.run_sync(self.storage.delete_job, job_id)


def _too_many_active(limit: int) -> RateLimited:
    return RateLimited(
        f"This key already has {limit} unfinished jobs; wait for one to finish",
        error_code="TOO_MANY_ACTIVE_JOBS",
        details={"max_active_jobs": limit},
        headers={"Retry-After": "10"},
    )


async def redis_alive(store: JobStore) -> bool:
    try:
        return await store.ping()
    except (RedisError, OSError):
        return False
