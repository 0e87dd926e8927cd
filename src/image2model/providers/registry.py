"""The provider registry: a plain dict by name, built from settings."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import cast

from image2model.config import Settings
from image2model.providers.base import Provider

# Imported with this module, not on first use: a Celery worker imports it before it forks
# its pool, so each child starts with these modules instead of importing them (about half a
# second on two busy cores) during its first task.
from image2model.providers.fal import FalProvider
from image2model.providers.local.provider import LocalProvider


def build_providers(settings: Settings) -> dict[str, Provider]:
    """Every provider this deployment offers, keyed by name."""
    providers: dict[str, Provider] = {"local": LocalProvider(), "fal": FalProvider(settings)}
    for name, target in settings.PROVIDER_PLUGINS.items():
        providers[name] = _load_factory(target)(settings)
    return providers


def _load_factory(target: str) -> Callable[[Settings], Provider]:
    module_name, _, attribute = target.partition(":")
    factory = getattr(importlib.import_module(module_name), attribute)
    return cast(Callable[[Settings], Provider], factory)
