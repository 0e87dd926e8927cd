"""What a fal endpoint is to us: where its image goes, its options, where its outputs are.

The endpoints themselves are rows of data in `catalogue.py`; this module is their shape and
the few rules every row follows.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from image2model.providers.base import ModelSpec, OptionSpec

MODEL_OUTPUTS = ("pbr_model", "model_mesh", "model_glb", "base_model")
"""Output fields that hold the model, best first (base_model is Tripo's untextured mesh)."""
PREVIEW_OUTPUTS = ("rendered_image", "thumbnail")


@dataclass(frozen=True)
class FalModel:
    """One fal endpoint: what `/models/available` lists, and how a request to it is made.

    Every listed option is sent under its fal name (`OptionSpec.sent_as`, else its own),
    except those in `ours`, which our post-processing applies (a face limit for a model that
    takes none).
    """

    spec: ModelSpec
    image_field: str = "image_url"
    image_list: bool = False
    """The field is an array of image URLs (`image_urls`); one image is sent as a list of one."""
    ours: frozenset[str] = frozenset({"face_limit"})
    face_range: tuple[int, int] | None = None
    """The face counts fal accepts, where narrower than ours: a face limit outside it is sent
    as the nearest bound, and post-processing reduces the model the rest of the way."""
    model_outputs: tuple[str, ...] = MODEL_OUTPUTS
    preview_outputs: tuple[str, ...] = PREVIEW_OUTPUTS
    fbx_when: tuple[tuple[str, Any], ...] = ()
    """Option values with which the model's file is FBX: kept as is, and converted to GLB
    for everything else (with assimp; refused where it is not installed)."""

    @property
    def endpoint(self) -> str:
        return self.spec.id

    def arguments(
        self, chosen: dict[str, Any], image: str, views: dict[str, str] | None = None
    ) -> dict[str, Any]:
        """fal's request body for the options a client chose and the object's images (data
        URIs): its front in `image_field`, other sides in `<side>_image_url`, or all of them
        in the `image_field` array, front first, then the sides in the model's order."""
        specs = {spec.name: spec for spec in self.spec.options}
        body: dict[str, Any] = {}
        for name, value in chosen.items():
            spec = specs.get(name)
            if spec is None or name in self.ours:
                continue
            if name == "face_limit" and self.face_range is not None:
                low, high = self.face_range
                value = min(max(value, low), high)
            body[spec.sent_as or name] = wire_value(spec, value)
        views = views or {}
        if self.image_list:
            body[self.image_field] = [image, *(views[s] for s in self.spec.views if s in views)]
        else:
            body[self.image_field] = image
            body.update(
                {f"{side}_image_url": views[side] for side in self.spec.views if side in views}
            )
        return body

    def refusing_fbx(self, reason: str) -> FalModel:
        """This model with the option values that make an FBX refused, for `reason`."""
        if not self.fbx_when:
            return self
        options = tuple(
            replace(
                option,
                refused=(
                    *option.refused,
                    *((value, reason) for name, value in self.fbx_when if name == option.name),
                ),
            )
            for option in self.spec.options
        )
        return replace(self, spec=replace(self.spec, options=options))

    def applies_face_limit(self, face_limit: int | None) -> bool:
        """Whether fal itself keeps the model within `face_limit`."""
        if face_limit is None or "face_limit" in self.ours:
            return False
        return self.face_range is None or self.face_range[0] <= face_limit <= self.face_range[1]


def wire_value(spec: OptionSpec, value: object) -> object:
    """The JSON value fal expects: numeric choices (texture_size) travel as numbers."""
    if spec.kind == "choice" and isinstance(value, str) and value.isdigit():
        return int(value)
    return value


SEED = OptionSpec("seed", "int", minimum=0, maximum=2**31 - 1, description="Random seed")
FACE_LIMIT = OptionSpec(
    "face_limit",
    "int",
    minimum=100,
    maximum=500_000,
    description="Most triangles the model may have (decimated after generation)",
)


def face_limit_sent_as(field: str, low: int | None = None, high: int | None = None) -> OptionSpec:
    """`face_limit` for a model with a face-count input of its own."""
    bounds = f" (fal takes {low:,}–{high:,}; beyond that, decimated after)" if low and high else ""
    return OptionSpec(
        "face_limit",
        "int",
        minimum=100,
        maximum=2_000_000,
        description=f"Most faces; sent as {field}{bounds}",
        sent_as=field,
    )


def sent_as(name: str, kind: str, field: str, *, default: Any = None, what: str = "") -> OptionSpec:
    """A common option (`texture`, `pbr`, `seed`) under this model's own field name."""
    numeric = kind == "int"
    return OptionSpec(
        name,
        kind,
        default=default,
        minimum=0 if numeric else None,
        maximum=2**31 - 1 if numeric else None,
        description=f"{what}; sent as {field}",
        sent_as=field,
    )


def catalogue(known: tuple[FalModel, ...], default_endpoint: str) -> tuple[FalModel, ...]:
    """`known` with `default_endpoint` first; an unknown endpoint is offered as it is."""
    default = next((m for m in known if m.endpoint == default_endpoint), None)
    if default is None:
        default = FalModel(
            ModelSpec(
                id=default_endpoint,
                name=f"{default_endpoint} (fal)",
                description="Set by FAL_MODEL_ENDPOINT; receives image_url and seed",
                options=(FACE_LIMIT, SEED),
            ),
        )
    return (default, *(m for m in known if m is not default))
