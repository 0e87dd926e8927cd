"""Checking a client's generation options against a model's declared options."""

from __future__ import annotations

from typing import Any

from image2model.errors import InvalidField
from image2model.providers.base import ModelSpec, OptionSpec

_TRUE = {"true"}
_FALSE = {"false"}


def coerce(spec: OptionSpec, raw: Any) -> Any:
    """The typed value of one option, or InvalidField saying what is allowed."""
    try:
        value = _convert(spec, raw)
    except (TypeError, ValueError):
        raise _invalid(spec, raw) from None
    low, high = spec.minimum, spec.maximum
    if isinstance(value, int | float) and not isinstance(value, bool):
        if (low is not None and value < low) or (high is not None and value > high):
            raise _invalid(spec, raw)
    for refused, reason in spec.refused:
        if value == refused:
            raise InvalidField(
                f"{spec.name}={str(raw)[:100]} is not supported: {reason}",
                details={"field": spec.name, "reason": reason},
            )
    return value


def validate_options(model: ModelSpec, raw: dict[str, Any]) -> dict[str, Any]:
    """Typed options for `model`; unknown names and bad values are a 422."""
    specs = {spec.name: spec for spec in model.options}
    unknown = sorted(set(raw) - set(specs))
    if unknown:
        raise InvalidField(
            f"Options not supported by model {model.id}: {', '.join(unknown)}",
            details={"unknown": unknown, "allowed": sorted(specs)},
        )
    for spec in model.options:
        if (
            spec.sent_as in specs
            and raw.get(spec.name) is not None
            and raw.get(spec.sent_as) is not None
        ):
            raise InvalidField(
                f"{spec.name} and {spec.sent_as} are the same option of model {model.id}; "
                "set one of them",
                details={"field": spec.name, "same_as": spec.sent_as},
            )
    return {name: coerce(specs[name], value) for name, value in raw.items() if value is not None}


def _convert(spec: OptionSpec, raw: Any) -> Any:
    text = str(raw).strip()
    if spec.kind == "int":
        if isinstance(raw, bool) or (isinstance(raw, float) and not raw.is_integer()):
            raise ValueError(raw)
        return int(text)
    if spec.kind == "float":
        return float(text)
    if spec.kind == "bool":
        if isinstance(raw, bool):
            return raw
        if text.lower() in _TRUE | _FALSE:
            return text.lower() in _TRUE
        raise ValueError(raw)
    if spec.kind == "choice":
        match = {c.lower(): c for c in spec.choices or ()}.get(text.lower())
        if match is None:
            raise ValueError(raw)
        return match
    return text


def _invalid(spec: OptionSpec, raw: Any) -> InvalidField:
    allowed: dict[str, Any] = {"type": spec.kind}
    if spec.choices:
        allowed["choices"] = list(spec.choices)
    if spec.minimum is not None:
        allowed["minimum"] = spec.minimum
    if spec.maximum is not None:
        allowed["maximum"] = spec.maximum
    return InvalidField(
        f"Invalid value for {spec.name}: {str(raw)[:100]!r}",
        details={"field": spec.name, "allowed": allowed},
    )
