"""Other formats from the canonical GLB, made once and cached next to it."""

from __future__ import annotations

import io
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import trimesh
from trimesh.exchange.obj import export_obj
from trimesh.visual import TextureVisuals

from image2model.meshes.assimp import Assimp, missing_reason
from image2model.meshes.assimp import find as find_assimp
from image2model.meshes.preview import render_turntable
from image2model.meshes.threemf import export_3mf
from image2model.meshes.validate import load_model
from image2model.storage import atomic_write_bytes

FORMATS = ("glb", "obj", "stl", "ply", "3mf", "usdz", "fbx")
_SUFFIX = {
    "glb": ".glb",
    "obj": ".obj.zip",
    "stl": ".stl",
    "ply": ".ply",
    "3mf": ".3mf",
    "usdz": ".usdz",
    "fbx": ".fbx",
}
SIZED = ("3mf",)
"""Formats made at a size asked for (`size_mm`, the longest side), for printing."""


def converted_path(glb: Path, fmt: str, size_mm: float | None = None) -> Path:
    """Where the `fmt` version of `glb` lives (the GLB itself for "glb"); one per size."""
    if fmt not in FORMATS:
        raise ValueError(f"Unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
    if size_mm is not None:
        if fmt not in SIZED:
            raise ValueError(f"A size applies to {', '.join(SIZED)} only, not {fmt}")
        return glb.with_name(f"{glb.stem}.{size_mm:g}mm{_SUFFIX[fmt]}")
    return glb if fmt == "glb" else glb.with_name(glb.stem + _SUFFIX[fmt])


class FormatUnavailable(Exception):
    """This server lacks what the format needs; the message says what and how to get it."""


@dataclass(frozen=True)
class Tools:
    """The programs some formats need, as this server found them."""

    assimp: Assimp | None = None
    assimp_missing: str = missing_reason(None)

    @classmethod
    def find(cls, assimp_command: str | None) -> Tools:
        """What ASSIMP_COMMAND names, else what is installed."""
        return cls(find_assimp(assimp_command), missing_reason(assimp_command))

    def unavailable(self) -> dict[str, str]:
        """Formats this server cannot make, each with the reason."""
        return {} if self.assimp else {"fbx": f"FBX needs {self.assimp_missing}"}


def convert(
    glb: Path, fmt: str, tools: Tools | None = None, *, size_mm: float | None = None
) -> Path:
    """The `fmt` version of `glb` (its longest side `size_mm` long, for a SIZED format),
    written atomically unless an up-to-date copy exists; FormatUnavailable when `tools` lack
    what `fmt` needs."""
    target = converted_path(glb, fmt, size_mm)
    if target == glb or _is_fresh(target, glb):
        return target
    if fmt == "fbx":
        return _fbx(glb, target, tools or Tools())
    mesh = load_model(glb)
    exported = (
        export_3mf(mesh, glb.stem, size_mm) if fmt == "3mf" else _EXPORTERS[fmt](mesh, glb.stem)
    )
    atomic_write_bytes(target, exported)
    return target


TURNTABLE_SUFFIXES = {"webp": ".turntable.webp", "gif": ".turntable.gif"}


def turntable(glb: Path, kind: str) -> Path:
    """The model's turntable as `kind` (webp or gif), rendered once with the other, cached."""
    paths = {k: glb.with_name(glb.stem + suffix) for k, suffix in TURNTABLE_SUFFIXES.items()}
    if not all(_is_fresh(path, glb) for path in paths.values()):
        render_turntable(glb, paths["webp"], paths["gif"])
    return paths[kind]


def _fbx(glb: Path, target: Path, tools: Tools) -> Path:
    """FBX by assimp from the GLB itself (textures embedded; metres and +Y up, as read back)."""
    if tools.assimp is None:
        raise FormatUnavailable(tools.unavailable()["fbx"])
    # assimp writes beside its own partial name; a private folder keeps two first downloads
    # of the same model apart until the atomic rename
    with tempfile.TemporaryDirectory(prefix=".fbx-", dir=target.parent) as scratch:
        made = tools.assimp.export(glb, Path(scratch) / target.name, "fbx")
        made.replace(target)
    return target


def _is_fresh(target: Path, source: Path) -> bool:
    return target.exists() and target.stat().st_mtime_ns >= source.stat().st_mtime_ns


def _obj_zip(mesh: trimesh.Trimesh, stem: str) -> bytes:
    """OBJ + MTL + texture image in one ZIP, since OBJ alone cannot carry its texture."""
    text, files = export_obj(  # type: ignore[no-untyped-call]
        mesh,
        include_normals=True,
        include_texture=True,
        return_texture=True,
        mtl_name=f"{stem}.mtl",
    )
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(f"{stem}.obj", text)
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def export_bytes(mesh: trimesh.Trimesh, file_type: str, **options: Any) -> bytes:
    """`mesh` serialised as `file_type` (a binary format)."""
    data = mesh.export(file_type=file_type, **options)
    if not isinstance(data, bytes):
        raise TypeError(f"{file_type} export gave {type(data).__name__}, not bytes")
    return data


def export_glb(mesh: trimesh.Trimesh) -> bytes:
    """GLB bytes with vertex normals, so viewers shade the surface smoothly."""
    return export_bytes(mesh, "glb", include_normals=True)


def _stl(mesh: trimesh.Trimesh, stem: str) -> bytes:
    return export_bytes(mesh, "stl")


def _ply(mesh: trimesh.Trimesh, stem: str) -> bytes:
    """Binary PLY; a texture is baked into vertex colours, the one colour PLY viewers show."""
    if isinstance(mesh.visual, TextureVisuals):
        colours = mesh.visual.to_color()  # type: ignore[no-untyped-call]
        mesh = trimesh.Trimesh(mesh.vertices, mesh.faces, visual=colours, process=False)
    return export_bytes(mesh, "ply", encoding="binary")


def _usdz(mesh: trimesh.Trimesh, stem: str) -> bytes:
    # imported on first use: Pixar's USD library adds 78 MB to a process that loads it, and
    # workers, which never write USDZ, would carry it for nothing
    from image2model.meshes.usdz import export_usdz

    return export_usdz(mesh)


_EXPORTERS: dict[str, Callable[[trimesh.Trimesh, str], bytes]] = {
    "obj": _obj_zip,
    "stl": _stl,
    "ply": _ply,
    "usdz": _usdz,
}
