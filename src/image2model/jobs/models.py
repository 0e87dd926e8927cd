"""The job vocabulary: statuses that only move forward, and the job and item documents."""

from __future__ import annotations

import math
from collections.abc import Iterable
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field, field_validator


class ItemStatus(StrEnum):
    QUEUED = "queued"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def is_terminal(self) -> bool:
        return self in (ItemStatus.COMPLETED, ItemStatus.FAILED, ItemStatus.CANCELLED)


class JobStatus(StrEnum):
    QUEUED = "queued"
    PROCESSING = "processing"
    COMPLETED = "completed"
    PARTIAL = "partial"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def is_terminal(self) -> bool:
        return self not in (JobStatus.QUEUED, JobStatus.PROCESSING)


class ItemError(BaseModel):
    code: str
    message: str


class PrintReport(BaseModel):
    """Whether the model prints as it is; sizes at 1 unit = 1 m (`meshes.printability`)."""

    watertight: bool
    winding_consistent: bool
    bodies: int
    area_mm2: float
    volume_mm3: float | None = None
    """Only for a closed mesh: an open one has no inside to measure."""
    size_mm: list[float]


class ModelStats(BaseModel):
    vertices: int
    faces: int
    watertight: bool
    bounds: list[list[float]] | None = None
    printability: PrintReport | None = None
    """Absent for models made before it was measured."""
    shape: str | None = None
    """The kind of shape the offline generator gave the model (inflate, slab or revolve)."""


class View(BaseModel):
    """Another photo of an item's object, from one side (`back`, `left`, …)."""

    role: str
    filename: str
    stored_name: str


class Output(BaseModel):
    """A file the model's service returned besides the model and preview we made from it (a
    PBR or untextured mesh, other formats, texture maps), kept as it came."""

    name: str
    """Where the service's result had it (`model_urls.fbx`, `texture_urls.0.base_color`)."""
    file: str
    size: int


class Item(BaseModel):
    """One object of a job, from one image (or its front view and `views`), and its model."""

    file_id: str
    filename: str
    stem: str
    stored_name: str
    file_size: int
    content_type: str
    status: ItemStatus = ItemStatus.QUEUED
    progress: int = 0
    message: str = "Queued"
    error: ItemError | None = None
    attempts: int = 0
    model_file: str | None = None
    preview_file: str | None = None
    model_size: int | None = None
    preview_size: int | None = None
    stats: ModelStats | None = None
    provider_state: dict[str, Any] = Field(default_factory=dict)
    views: list[View] = Field(default_factory=list)
    """The object's other views; the item's own image is its front."""
    outputs: list[Output] = Field(default_factory=list)
    started_at: float | None = None
    finished_at: float | None = None

    @field_validator("views", "outputs", mode="before")
    @classmethod
    def _empty_list(cls, value: Any) -> Any:
        """Redis' Lua JSON writes an empty list back as `{}` (an empty table is both)."""
        return [] if value == {} else value


class JobOptions(BaseModel):
    """Generation options shared by every item of a job (validated per provider)."""

    provider: str
    model: str | None = None
    face_limit: int | None = None
    texture: str | bool | None = None
    pbr: bool | None = None
    seed: int | None = None
    extra: dict[str, Any] = Field(default_factory=dict)
    """The model's other options; with the fields above, what `/job` shows the client."""

    def model_options(self) -> dict[str, Any]:
        """The options the provider gets besides `face_limit`, as validated at upload."""
        typed = self.model_dump(include={"texture", "pbr", "seed"}, exclude_none=True)
        return {**typed, **self.extra}


class JobCost(BaseModel):
    """What the job was expected to cost when it was queued (None where it cannot be told)."""

    amount: float | None
    """`per_item` × `items`, in `currency`."""
    currency: str | None = None
    per_item: float | None = None
    items: int
    price_read_at: float | None = None
    """When the price was read (fal's pricing API, or the server's FAL_PRICES setting)."""
    price_source: str | None = None
    note: str
    """How the figure was reached, or why there is none."""


class Job(BaseModel):
    job_id: str
    owner: str
    status: JobStatus
    options: JobOptions
    created_at: float
    updated_at: float
    finished_at: float | None = None
    items: list[Item]
    request_id: str | None = None
    results_expired_at: float | None = None
    """When cleanup removed the job's files (the job itself is kept until `JOB_TTL`)."""
    cost: JobCost | None = None

    @property
    def total(self) -> int:
        return len(self.items)

    def item(self, file_id: str) -> Item | None:
        return next((i for i in self.items if i.file_id == file_id), None)

    def counts(self) -> dict[str, int]:
        counts = {status.value: 0 for status in ItemStatus}
        for item in self.items:
            counts[item.status.value] += 1
        return counts

    @property
    def progress(self) -> int:
        return overall_progress(100 if i.status.is_terminal else i.progress for i in self.items)


def overall_progress(item_progress: Iterable[int]) -> int:
    """The mean of the items' progress, halves rounded up (as `jobs/lua.py` rounds it)."""
    values = list(item_progress)
    return math.floor(sum(values) / len(values) + 0.5) if values else 0
