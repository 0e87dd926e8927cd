"""Turning a client's provider, model and option fields into validated job options."""

from __future__ import annotations

from typing import Any

from image2model.config import Settings
from image2model.errors import InvalidField
from image2model.jobs.models import JobOptions
from image2model.providers.base import ModelSpec, OptionSpec, Provider
from image2model.providers.options import coerce, validate_options


def job_options(
    providers: dict[str, Provider], settings: Settings, fields: dict[str, Any]
) -> JobOptions:
    """Validated options for a new job; every problem is a 422 before anything is queued.

    A field that is null, empty or only whitespace counts as not sent (its default applies):
    HTML forms send unset inputs as empty strings.
    """
    fields = {k: v for k, v in fields.items() if not _blank(v)}
    default = _owner_of(providers, fields.get("model")) or settings.default_provider
    provider_name = str(fields.pop("provider", default))
    provider = providers.get(provider_name)
    if provider is None:
        raise InvalidField(
            f"Unknown provider {provider_name!r}",
            details={"field": "provider", "allowed": sorted(providers)},
        )
    unconfigured = unconfigured_reason(provider)
    if unconfigured:
        raise InvalidField(
            f"Provider {provider_name} is not configured on this server ({unconfigured})",
            error_code="PROVIDER_NOT_CONFIGURED",
            details={"field": "provider"},
        )
    model = _model(provider, fields.pop("model", None))
    if "texture_enabled" in fields:
        texture = _texture_switch(model, fields.pop("texture_enabled"))
        if texture is not None:
            fields.setdefault("texture", texture)
    if "face_limit" not in fields and settings.DEFAULT_FACE_LIMIT is not None:
        if any(o.name == "face_limit" for o in model.options):
            fields["face_limit"] = settings.DEFAULT_FACE_LIMIT
    values = validate_options(model, fields)
    return JobOptions(
        provider=provider_name,
        model=model.id,
        face_limit=values.pop("face_limit", None),
        texture=values.pop("texture", None),
        pbr=values.pop("pbr", None),
        seed=values.pop("seed", None),
        extra=values,
    )


def _owner_of(providers: dict[str, Provider], model: Any) -> str | None:
    """The usable provider with a model of this id, for a job that names a model alone."""
    return next(
        (n for n, p in usable_providers(providers).items() if any(m.id == model for m in p.models)),
        None,
    )


def chosen_model(providers: dict[str, Provider], options: JobOptions) -> ModelSpec:
    """The model `options` chose (as `job_options` validated them)."""
    return _model(providers[options.provider], options.model)


def _texture_switch(model: ModelSpec, enabled: Any) -> Any:
    """`texture_enabled` (the replaced service's switch) as this model's `texture` value:
    the model's default texture when on, its untextured choice when off."""
    on = coerce(OptionSpec("texture_enabled", "bool"), enabled)
    spec = next((o for o in model.options if o.name == "texture"), None)
    if spec is not None and spec.kind == "bool":
        return on
    if spec is not None and spec.kind == "choice":
        off = next((c for c in spec.choices or () if c in ("no", "none", "false")), None)
        if on or off is not None:
            return spec.default if on else off
    if on:
        return None  # every model here textures by default
    raise InvalidField(
        f"Model {model.id} has no untextured output: texture_enabled=false is not supported",
        details={"field": "texture_enabled"},
    )


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def usable_providers(providers: dict[str, Provider]) -> dict[str, Provider]:
    """The providers a new job may choose here (all but those missing a setting)."""
    return {n: p for n, p in providers.items() if not unconfigured_reason(p)}


def unconfigured_reason(provider: Provider) -> str | None:
    reason = getattr(provider, "unconfigured", None)
    return reason if isinstance(reason, str) else None


def _model(provider: Provider, requested: Any) -> ModelSpec:
    if requested is None:
        return provider.models[0]
    for model in provider.models:
        if model.id == str(requested):
            return model
    raise InvalidField(
        f"Provider {provider.name} has no model {str(requested)[:100]!r}",
        details={"field": "model", "allowed": [m.id for m in provider.models]},
    )
