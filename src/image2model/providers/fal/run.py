"""One item on fal: submit once, wait, fetch, download; resume a stored request on a rerun."""

from __future__ import annotations

import logging
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import fal_client
import httpx
from httpx_sse import SSEError

from image2model.meshes.assimp import Assimp, ConversionFailed
from image2model.providers.base import (
    Cancelled,
    GenerationRequest,
    GenerationResult,
    ProviderContext,
    ProviderError,
)
from image2model.providers.fal import failures, outputs
from image2model.providers.fal.failures import Transient
from image2model.providers.fal.image import data_uri
from image2model.providers.fal.models import FalModel
from image2model.providers.fal.queue import FalQueue
from image2model.providers.fal.slots import SlotPool
from image2model.providers.fal.submits import SubmitRate
from image2model.providers.fal.watch import Ended, StatusWatch

log = logging.getLogger(__name__)

T = TypeVar("T")
BACKOFF_BASE = 0.5
BACKOFF_CAP = 30.0
FIRST_POLL = 0.5
"""Polls (where fal's status stream is unavailable) start quick and slow down by half each
time up to FAL_POLL_INTERVAL."""
WATCH_CHECK_SECONDS = 0.25
"""How often a cancel or the deadline is checked while the status stream is silent."""
REOPEN_PAUSE = 0.5
CANCEL_ATTEMPTS = 3
_HANDLE_FIELDS = ("request_id", "status_url", "response_url", "cancel_url")
_GIVING_UP = frozenset({"PROVIDER_TIMEOUT", "PROVIDER_UNAVAILABLE"})
"""We stop waiting on a request fal may still run (and bill): cancel it."""


class NoStream(Exception):
    """This fal (or a proxy in front of it) has no status stream: poll instead."""


@dataclass(frozen=True)
class Limits:
    poll_interval: float
    deadline: float
    max_retries: int


def backoff(failures_in_a_row: int, retry_after: float | None) -> float:
    """Exponential with jitter; never shorter than the server's Retry-After."""
    delay: float = min(BACKOFF_CAP, BACKOFF_BASE * 2.0 ** (failures_in_a_row - 1))
    delay *= random.uniform(0.5, 1.5)
    if retry_after is not None:
        delay = max(delay, retry_after * random.uniform(1.0, 1.2))
    return delay


class FalRun:
    """The state machine of one item; everything it must remember is in the item's state."""

    def __init__(
        self,
        *,
        queue: FalQueue,
        slots: SlotPool,
        submits: SubmitRate | None,
        downloads: httpx.Client,
        model: FalModel,
        request: GenerationRequest,
        context: ProviderContext,
        limits: Limits,
        key: str,
        assimp: Assimp | None = None,
    ) -> None:
        self.queue, self.slots, self.submits, self.downloads = queue, slots, submits, downloads
        self.model, self.request, self.context = model, request, context
        self.limits, self.key, self.assimp = limits, key, assimp
        self.state = context.load_state()
        self.state.setdefault("started_at", time.time())
        self.deadline = float(self.state["started_at"]) + limits.deadline
        self.progress = 0.0

    def execute(self) -> GenerationResult:
        if all(k in self.state for k in _HANDLE_FIELDS):
            log.info("fal.resume request_id=%s", self.state["request_id"])
        elif self.state.get("submitting"):
            raise ProviderError(
                "PROVIDER_SUBMIT_UNCERTAIN",
                "A worker stopped while submitting to fal; fal may have accepted the request, "
                "so it is not sent again (that could be paid twice). Run the image again.",
            )
        resumed = "request_id" in self.state
        arguments = None if resumed else self._arguments()  # ready before a slot is taken
        # The slot stands for a request at fal: it is given back the moment fal says the
        # request is done, so the next item's submit does not wait on our fetch and downloads.
        with self.slots.hold(self.checkpoint, force=resumed):
            handle = self.queue.handle(self.state) if arguments is None else self._submit(arguments)
            try:
                status = self._wait(handle)
            except (Cancelled, ProviderError) as stop:
                if not isinstance(stop, ProviderError) or stop.code in _GIVING_UP:
                    self._cancel(handle)
                raise
        return self._download(self._fetch_result(handle, status))

    def checkpoint(self) -> None:
        """Raise if the item was cancelled or its deadline has passed."""
        self.sleep(0)

    def sleep(self, seconds: float) -> None:
        """Sleep in short steps: a cancel is noticed within a second, the deadline is kept."""
        if time.time() + seconds > self.deadline:
            raise ProviderError(
                "PROVIDER_TIMEOUT",
                f"fal did not finish within FAL_ITEM_DEADLINE ({self.limits.deadline:.0f} s)",
            )
        end = time.monotonic() + seconds
        while True:
            if self.context.is_cancelled():
                raise Cancelled
            left = end - time.monotonic()
            if left <= 0:
                return
            time.sleep(min(0.25, left))

    def _submit(self, arguments: dict[str, Any]) -> fal_client.SyncRequestHandle:
        if self.submits is not None:
            self.submits.take(self._wait_for_the_rate)
        handle = self._call("submit", lambda: self._submit_once(arguments))
        saved = {f: getattr(handle, f) for f in _HANDLE_FIELDS}
        try:
            self._save(
                {**self.state, **saved, "endpoint": self.model.endpoint, "submitting": False}
            )
        except Cancelled:  # cancelled while the submit was on its way: stop paying for it
            self._cancel(handle)
            raise
        log.info("fal.submitted endpoint=%s request_id=%s", self.model.endpoint, handle.request_id)
        self._report(5, "Submitted to fal")
        return handle

    def _wait_for_the_rate(self, seconds: float) -> None:
        self._report(self.progress, "Waiting for FAL_SUBMIT_RATE_LIMIT")
        self.sleep(seconds)

    def _submit_once(self, arguments: dict[str, Any]) -> fal_client.SyncRequestHandle:
        self._save({**self.state, "submitting": True})
        try:
            return self.queue.submit(self.model.endpoint, arguments)
        except (fal_client.FalClientHTTPError, *failures.NEVER_SENT):
            self._save({**self.state, "submitting": False})  # fal answered no: nothing was paid
            raise

    def _arguments(self) -> dict[str, Any]:
        views = {side: data_uri(path) for side, path in self.request.views.items()}
        return self.model.arguments(self.request.chosen, data_uri(self.request.image_path), views)

    def _wait(self, handle: fal_client.SyncRequestHandle) -> fal_client.Completed:
        """Until fal says the request is done (with a result or an error)."""
        submitted = time.time()
        try:
            return self._call("status", lambda: self._watch(handle, submitted))
        except NoStream:
            log.info("fal.status_stream.unavailable request_id=%s: polling", handle.request_id)
            return self._poll(handle, submitted)

    def _fetch_result(
        self, handle: fal_client.SyncRequestHandle, status: fal_client.Completed
    ) -> dict[str, Any]:
        self._report(88, "Fetching the result from fal")
        if status.error:
            try:
                return self.queue.result(handle)
            except (fal_client.FalClientHTTPError, httpx.HTTPError) as error:
                raise failures.final_failure(error, key=self.key) from None
        return self._call("result", lambda: self.queue.result(handle))

    def _watch(
        self, handle: fal_client.SyncRequestHandle, submitted: float
    ) -> fal_client.Completed:
        """Follow fal's status stream until COMPLETED, opening it again if it ends early."""
        while True:
            with StatusWatch(self.queue, handle) as watch:
                while True:
                    try:
                        status = watch.get(timeout=WATCH_CHECK_SECONDS)
                    except fal_client.FalClientHTTPError as error:
                        if error.status_code in (404, 405, 501):
                            raise NoStream from None
                        raise
                    except SSEError:  # answered, but not with an event stream
                        raise NoStream from None
                    self.checkpoint()
                    if isinstance(status, fal_client.Completed):
                        return status
                    if isinstance(status, Ended):
                        break
                    if status is not None:
                        self._report_status(status, time.time() - submitted)
            self.sleep(REOPEN_PAUSE)

    def _poll(self, handle: fal_client.SyncRequestHandle, submitted: float) -> fal_client.Completed:
        """Ask for the status until COMPLETED: often at first, then every FAL_POLL_INTERVAL."""
        interval = FIRST_POLL
        while True:
            status = self._call("status", lambda: self.queue.status(handle))
            if isinstance(status, fal_client.Completed):
                return status
            self._report_status(status, time.time() - submitted)
            self.sleep(interval)
            interval = min(interval * 1.5, self.limits.poll_interval)

    def _download(self, result: dict[str, Any]) -> GenerationResult:
        model_file, preview_file = outputs.model_and_preview(result, self.model)
        work = self.request.work_dir
        model = self._call(
            "download",
            lambda: outputs.download(
                self.downloads, model_file, work / f"fal-model{model_file.suffix}"
            ),
        )
        preview = None
        if preview_file is not None:
            target = work / f"fal-preview{preview_file.suffix}"
            preview = self._call(
                "download", lambda: outputs.download(self.downloads, preview_file, target)
            )
        kept = {}
        if model_file.suffix in outputs.CONVERTED_SUFFIXES:
            kept[model_file.where] = model
            model = self._to_glb(model)
        others = outputs.other_files(result, model_file, preview_file)
        for index, (name, remote) in enumerate(others.items()):
            suffix = remote.suffix if remote.suffix in outputs.KEPT_SUFFIXES else ".bin"
            kept[name] = self._fetch(remote, work / f"fal-output-{index}{suffix}")
        self._report(100, "Model downloaded from fal")
        applied = self.model.applies_face_limit(self.request.face_limit)
        return GenerationResult(
            model_path=model, preview_path=preview, face_limit_applied=applied, outputs=kept
        )

    def _to_glb(self, model: Path) -> Path:
        """fal's FBX model as GLB, which previews, conversions and stats read; the FBX is
        kept as it came."""
        if self.assimp is None:
            raise ProviderError(
                "PROVIDER_UNSUPPORTED_OUTPUT",
                "fal returned an FBX model and this worker has no assimp tool to convert it",
            )
        try:
            return self.assimp.to_glb(model)
        except ConversionFailed as error:
            raise ProviderError("PROVIDER_BAD_RESULT", f"fal's FBX model: {error}") from None

    def _fetch(self, remote: outputs.RemoteFile, target: Path) -> Path:
        return self._call("download", lambda: outputs.download(self.downloads, remote, target))

    def _call(self, phase: str, attempt: Callable[[], T]) -> T:
        """`attempt` until it succeeds, retrying only what `failures.classify` calls transient."""
        in_a_row = 0
        while True:
            try:
                return attempt()
            except (fal_client.FalClientHTTPError, httpx.HTTPError) as error:
                verdict = failures.classify(error, phase=phase, key=self.key)
            if isinstance(verdict, ProviderError):
                raise verdict
            in_a_row += 1
            if in_a_row > self.limits.max_retries:
                raise ProviderError(
                    "PROVIDER_UNAVAILABLE",
                    f"fal {phase} failed {in_a_row} times in a row (last: {verdict.reason})",
                )
            self._wait_to_retry(phase, verdict, in_a_row)

    def _wait_to_retry(self, phase: str, verdict: Transient, in_a_row: int) -> None:
        delay = backoff(in_a_row, verdict.retry_after)
        log.warning(
            "fal.retry phase=%s reason=%s retry_after=%s delay=%.2f",
            phase,
            verdict.reason,
            verdict.retry_after,
            delay,
        )
        self._report(self.progress, f"fal {phase}: {verdict.reason}; retrying in {delay:.0f} s")
        self.sleep(delay)

    def _cancel(self, handle: fal_client.SyncRequestHandle) -> None:
        """Best effort: a cancelled or timed-out item should not keep fal working (and billing)."""
        for attempt in range(CANCEL_ATTEMPTS):
            try:
                self.queue.cancel(handle)
                log.info("fal.cancelled request_id=%s", handle.request_id)
                return
            except (fal_client.FalClientHTTPError, httpx.HTTPError) as error:
                verdict = failures.classify(error, phase="cancel", key=self.key)
                if isinstance(verdict, ProviderError):
                    log.info("fal.cancel.refused request_id=%s", handle.request_id)
                    return
                time.sleep(backoff(attempt + 1, verdict.retry_after))
        log.warning("fal.cancel.failed request_id=%s", handle.request_id)

    def _report_status(self, status: fal_client.Status, elapsed: float) -> None:
        if isinstance(status, fal_client.Queued):
            self._report(8, f"Waiting in fal's queue (position {status.position})")
            return
        logs = getattr(status, "logs", None) or []
        last = next((e.get("message") for e in reversed(logs) if e.get("message")), None)
        estimate = 15 + 70 * (1 - math.exp(-elapsed / 90))
        self._report(
            estimate, f"Generating on fal: {str(last)[:160]}" if last else "Generating on fal"
        )

    def _report(self, progress: float, message: str) -> None:
        self.progress = max(self.progress, progress)
        self.context.report(self.progress, message)

    def _save(self, state: dict[str, Any]) -> None:
        self.state = state
        self.context.save_state(state)
