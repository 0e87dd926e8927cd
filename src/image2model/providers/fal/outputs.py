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
MAX_OTHER_FILES = 32
MODEL_SUFFIXES = frozenset({".glb", ".gltf", ".obj", ".ply", ".stl"})
CONVERTED_SUFFIXES = frozenset({".fbx"})
"""Model files kept as they came and converted to GLB for everything else."""
PREVIEW_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".webp"})
KEPT_SUFFIXES = frozenset(
    {*MODEL_SUFFIXES, *PREVIEW_SUFFIXES, ".fbx", ".usdz", ".mtl", ".zip", ".mp4", ".bin"}
)
"""What a kept output may be called on our disk; anything else is stored as `.bin`."""
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
    where: str = ""
    """The result's field that held it."""


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
    if model.suffix not in MODEL_SUFFIXES | CONVERTED_SUFFIXES:
        model = RemoteFile(model.url, ".glb", model.where)
    preview = _first(result, made_by.preview_outputs)
    if preview is not None and preview.suffix not in PREVIEW_SUFFIXES:
        preview = RemoteFile(preview.url, ".png", preview.where)
    return model, preview


def other_files(result: dict[str, Any], *taken: RemoteFile | None) -> dict[str, RemoteFile]:
    """Every other file in a result, by where it was (`model_urls.fbx`, `textures.0`), once
    each: a URL already `taken` (the model, the preview) or seen before is left out."""
    seen = {t.url for t in taken if t is not None}
    found: dict[str, RemoteFile] = {}

    def walk(value: Any, path: str) -> None:
        remote = _file(value) if isinstance(value, dict) else None
        if remote is not None:
            if remote.url not in seen and len(found) < MAX_OTHER_FILES:
                seen.add(remote.url)
                found[path] = remote
        elif isinstance(value, dict):
            for key, inner in value.items():
                walk(inner, f"{path}.{key}" if path else str(key))
        elif isinstance(value, list):
            for index, inner in enumerate(value):
                walk(inner, f"{path}.{index}")

    walk(result, "")
    return found


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
    for field in fields:
        found = _file(result.get(field))
        if found is not None:
            return RemoteFile(found.url, found.suffix, field)
    return None


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
