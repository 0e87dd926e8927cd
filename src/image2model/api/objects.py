"""Multi-view objects in an upload: which of its files show one object, and from which side.

The `objects` form field is JSON naming, per object, the uploaded file of each side:

    objects={"chair": {"front": "chair-1.jpg", "back": "chair-2.jpg", "left": "chair-3.jpg"}}

Each object becomes one item (one model) whose own image is its `front`; a file named by no
object is an object of its own, as in any plain upload. Everything is checked before any
image is stored, and against the chosen model's views before anything is paid.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from image2model.errors import InvalidField
from image2model.jobs.models import Item
from image2model.providers.base import SIDES, ModelSpec

FIELD = "objects"
MAX_NAME = 200


@dataclass(frozen=True)
class ObjectViews:
    name: str
    sides: dict[str, str]
    """side → the uploaded file's name; `front` always present."""


def parse_objects(raw: str | None, filenames: list[str]) -> list[ObjectViews]:
    """The objects the field describes, each checked against the upload's file names."""
    if raw is None or not raw.strip():
        return []
    try:
        data = json.loads(raw)
    except ValueError:
        raise _invalid("objects must be a JSON object: {name: {side: filename}}") from None
    if not isinstance(data, dict) or not data:
        raise _invalid("objects must be a JSON object: {name: {side: filename}}")
    counts = {name: filenames.count(name) for name in filenames}
    claimed: dict[str, str] = {}
    objects = []
    for name, sides in data.items():
        if not name.strip() or len(name) > MAX_NAME or not name.isprintable():
            raise _invalid(f"Object names must be 1–{MAX_NAME} printable characters")
        if not isinstance(sides, dict) or not all(isinstance(v, str) for v in sides.values()):
            raise _invalid(f"Object {name[:50]!r} must map sides to file names")
        unknown = sorted(set(sides) - set(SIDES))
        if unknown:
            raise _invalid(
                f"Object {name[:50]!r} has unknown sides: {', '.join(s[:30] for s in unknown)}",
                allowed=list(SIDES),
            )
        if "front" not in sides:
            raise _invalid(f"Object {name[:50]!r} needs a front view", allowed=list(SIDES))
        for filename in sides.values():
            _claim(name, filename, counts, claimed)
        objects.append(ObjectViews(name=name, sides={s: sides[s] for s in SIDES if s in sides}))
    return objects


def check_views(model: ModelSpec, objects: list[ObjectViews]) -> None:
    """A 422 naming the model's accepted views for an object it cannot take."""
    accepted = ["front", *model.views]
    for item in objects:
        others = set(item.sides) - {"front"}
        if others and not model.views:
            raise _invalid(
                f"Model {model.id} takes one image per object; {item.name[:50]!r} has "
                f"{len(item.sides)} views",
                allowed=accepted,
                model=model.id,
            )
        unknown = sorted(others - set(model.views))
        if unknown:
            raise _invalid(
                f"Model {model.id} takes the views {', '.join(accepted)}; "
                f"{item.name[:50]!r} also has {', '.join(unknown)}",
                allowed=accepted,
                model=model.id,
            )
        missing = [side for side in model.required_views if side not in others]
        if missing:
            raise _invalid(
                f"Model {model.id} needs the views {', '.join(['front', *model.required_views])}; "
                f"{item.name[:50]!r} has no {', '.join(missing)}",
                allowed=accepted,
                model=model.id,
            )


def check_single(model: ModelSpec) -> None:
    """A plain image is an object with a front only: fine unless the model needs more."""
    if model.required_views:
        raise _invalid(
            f"Model {model.id} needs the views {', '.join(['front', *model.required_views])} "
            "of each object: name them in the objects field",
            allowed=["front", *model.views],
            model=model.id,
        )


def check_items(model: ModelSpec, items: list[Item]) -> None:
    """`check_views` and `check_single` for the items of an earlier upload, run again."""
    for item in items:
        if item.views:
            sides = {"front": item.filename, **{v.role: v.filename for v in item.views}}
            check_views(model, [ObjectViews(name=item.stem, sides=sides)])
        else:
            check_single(model)


def _claim(name: str, filename: str, counts: dict[str, int], claimed: dict[str, str]) -> None:
    if counts.get(filename, 0) == 0:
        raise _invalid(f"Object {name[:50]!r} names {filename[:100]!r}, which was not uploaded")
    if counts[filename] > 1:
        raise _invalid(f"{filename[:100]!r} was uploaded twice, so objects cannot name it")
    if filename in claimed:
        raise _invalid(
            f"{filename[:100]!r} is in both {claimed[filename][:50]!r} and {name[:50]!r}"
        )
    claimed[filename] = name


def _invalid(message: str, **details: Any) -> InvalidField:
    return InvalidField(message, details={"field": FIELD, **details})
