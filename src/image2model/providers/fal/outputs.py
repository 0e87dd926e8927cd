"""fal's differing output fields, normalised; and fetching the files before their URLs expire."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

import httpx

from image2model.providers.base import ProviderError
from image2model.providers.fal.models import FalModel

MAX_DOWNLOAD_BYTES = 512 * 1024 * 1024
MODEL_SUFFIXES = frozenset({".glb", ".gltf", ".obj", ".ply", ".stl"})
PREVIEW_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".webp"})
_BY_TYPE = {
    "model/gltf-binary": ".glb",
    "model/gltf+json": ".gltf",
    "model/obj": ".obj",
    "model/stl": ".stl",
    "application/sla": ".stl",
    "model/ply": ".ply",
    "image/png": ".png",
    "image/jpeg": ".jpg",
    "image/webp": ".webp",
}


@dataclass(frozen=True)
class RemoteFile:
    url: str
    suffix: str


def model_and_preview(
    result: dict[str, Any], made_by: FalModel
) -> tuple[RemoteFile, RemoteFile | None]:
    """The best model file and the preview image in a result of `made_by`."""
    model = _first(result, made_by.model_outputs)
    if model is None:
        fields = ", ".join(sorted(result)) or "none"
        raise ProviderError(
            "PROVIDER_BAD_RESULT", f"fal's result has no model file (fields: {fields})"
        )
    if model.suffix == ".fbx":
        raise ProviderError(
            "PROVIDER_UNSUPPORTED_OUTPUT", "fal returned an FBX model, which cannot be converted"
        )
    if model.suffix not in MODEL_SUFFIXES:
        model = RemoteFile(model.url, ".glb")
    preview = _first(result, made_by.preview_outputs)
    if preview is not None and preview.suffix not in PREVIEW_SUFFIXES:
        preview = RemoteFile(preview.url, ".png")
    return model, preview


def download(client: httpx.Client, remote: RemoteFile, target: Path) -> Path:
    """Stream `remote` to `target` (atomically); HTTP errors are raised for the caller to judge."""
    partial = target.with_name(target.name + ".part")
    size = 0
    with client.stream("GET", remote.url) as response:
        response.raise_for_status()
        with partial.open("wb") as out:
            for chunk in response.iter_bytes(1 << 16):
                size += len(chunk)
                if size > MAX_DOWNLOAD_BYTES:
                    raise ProviderError("PROVIDER_BAD_RESULT", "fal's file is larger than 512 MB")
                out.write(chunk)
    os.replace(partial, target)
    return target


def _first(result: dict[str, Any], fields: tuple[str, ...]) -> RemoteFile | None:
    return next((f for f in (_file(result.get(field)) for field in fields) if f), None)


def _file(value: Any) -> RemoteFile | None:
    if isinstance(value, str) and value:
        return RemoteFile(value, _suffix(value, None, None))
    if isinstance(value, dict) and isinstance(value.get("url"), str) and value["url"]:
        return RemoteFile(value["url"], _suffix(value["url"], value.get("file_name"), value))
    return None


def _suffix(url: str, file_name: Any, file: dict[str, Any] | None) -> str:
    for name in (file_name, urlsplit(url).path):
        if isinstance(name, str) and PurePosixPath(name).suffix:
            return PurePosixPath(name).suffix.lower()
    content_type = str((file or {}).get("content_type") or "").split(";")[0].strip()
    return _BY_TYPE.get(content_type, "")
