"""The provider interface: one prepared image in, model files out, or a typed error."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

Report = Callable[[float, str], None]
"""`report(progress, message)`: progress 0–100 of this item; cheap to call often (throttled)."""


class ProviderError(Exception):
    """A generation failure the item ends with (providers retry what is transient themselves)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class Cancelled(Exception):
    """The item was cancelled while the provider worked on it."""


@dataclass(frozen=True)
class GenerationRequest:
    """What a provider gets: the prepared image, the job's options and a scratch directory."""

    image_path: Path
    work_dir: Path
    face_limit: int | None = None
    """Most faces the delivered model may have (post-processing enforces it for any model)."""
    views: dict[str, Path] = field(default_factory=dict)
    """Other photos of the object by side (`back`, `left`, …); `image_path` is its front."""
    model: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    """The model's other options the client set, validated and typed by its `OptionSpec`s."""

    @property
    def chosen(self) -> dict[str, Any]:
        """Every option the client set, `face_limit` included when set."""
        limit = {} if self.face_limit is None else {"face_limit": self.face_limit}
        return {**limit, **self.options}


@dataclass(frozen=True)
class GenerationResult:
    """Files the provider wrote inside `work_dir`."""

    model_path: Path
    preview_path: Path | None = None
    face_limit_applied: bool = False
    outputs: dict[str, Path] = field(default_factory=dict)
    """Other files the provider returned, by where its result had them; kept as they are."""
    shape: str | None = None
    """The kind of shape the model was given, where the provider chooses one (offline)."""


class ProviderContext(Protocol):
    """What a running item offers its provider besides the request."""

    def report(self, progress: float, message: str) -> None: ...

    def load_state(self) -> dict[str, Any]:
        """State saved by an earlier attempt of this item (e.g. a paid request id)."""
        ...

    def save_state(self, state: dict[str, Any]) -> None:
        """Persist state before waiting on anything that costs money or time.

        Raises Cancelled when the item has already ended (e.g. cancelled): stop, don't pay.
        """
        ...

    def is_cancelled(self) -> bool: ...


class Provider(Protocol):
    """A generator of models. It may also define `unconfigured: str | None`, the reason this
    server cannot run it (e.g. a missing key), so new jobs refuse it up front, and
    `io_bound = True` when `generate` mostly waits on a remote service: its items then run on
    the I/O worker's threads (`jobs/dispatch.py`), and must be safe to run side by side."""

    @property
    def name(self) -> str: ...

    @property
    def models(self) -> tuple[ModelSpec, ...]:
        """Models this provider runs; the first is its default."""
        ...

    def generate(self, request: GenerationRequest, context: ProviderContext) -> GenerationResult:
        """Produce a model for `request`; raise ProviderError or Cancelled."""
        ...


SIDES = ("front", "back", "left", "right", "top", "bottom", "left_front", "right_front")
"""The views a multi-view object may have; `front` is the item's own image."""


@dataclass(frozen=True)
class OptionSpec:
    """One generation option a model accepts, as listed by `/models/available`."""

    name: str
    kind: str  # "int" | "float" | "bool" | "choice" | "str"
    default: Any = None
    choices: tuple[str, ...] | None = None
    minimum: float | None = None
    maximum: float | None = None
    description: str = ""
    refused: tuple[tuple[Any, str], ...] = ()
    """`(value, reason)` pairs the model accepts but this service cannot use: a 422 at upload."""
    sent_as: str | None = None
    """The model's own name for this option where it differs (`face_limit` → `face_count`).
    A client may set either name, not both."""


@dataclass(frozen=True)
class ModelSpec:
    """A model a provider can run, with the options it understands."""

    id: str
    name: str
    description: str = ""
    options: tuple[OptionSpec, ...] = ()
    views: tuple[str, ...] = ()
    """Sides of an object this model takes besides its front (`front` is every item's own
    image); empty for a model of one image per object."""
    required_views: tuple[str, ...] = ()
