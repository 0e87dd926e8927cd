"""The provider interface: one prepared image in, model files out, or a typed error."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

Report = Callable[[float, str], None]
"""`report(progress, message)`: progress 0–100 of this item; cheap to call often (throttled)."""


class ProviderError(Exception):
    """A generation failure. `retryable` says whether running the item again can help."""

    def __init__(self, code: str, message: str, *, retryable: bool = False) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.retryable = retryable


class Cancelled(Exception):
    """The item was cancelled while the provider worked on it."""


@dataclass(frozen=True)
class GenerationRequest:
    """What a provider gets: the prepared image, the job's options and a scratch directory."""

    image_path: Path
    work_dir: Path
    face_limit: int | None = None
    texture: bool = True
    model: str | None = None
    seed: int | None = None
    options: dict[str, Any] = field(default_factory=dict)
    """Every option the client set, validated, including the typed fields above."""


@dataclass(frozen=True)
class GenerationResult:
    """Files the provider wrote inside `work_dir`."""

    model_path: Path
    preview_path: Path | None = None
    face_limit_applied: bool = False


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
    @property
    def name(self) -> str: ...

    @property
    def models(self) -> tuple[ModelSpec, ...]:
        """Models this provider runs; the first is its default."""
        ...

    def generate(self, request: GenerationRequest, context: ProviderContext) -> GenerationResult:
        """Produce a model for `request`; raise ProviderError or Cancelled."""
        ...


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


@dataclass(frozen=True)
class ModelSpec:
    """A model a provider can run, with the options it understands."""

    id: str
    name: str
    description: str = ""
    options: tuple[OptionSpec, ...] = ()
