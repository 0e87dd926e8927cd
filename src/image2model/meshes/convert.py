"""Other formats from the canonical GLB, made once and cached next to it."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import trimesh
from trimesh.exchange.obj import export_obj
from trimesh.visual import TextureVisuals

from image2model.meshes.threemf import export_3mf
from image2model.meshes.validate import load_model
from image2model.storage import atomic_write_bytes

FORMATS = ("glb", "obj", "stl", "ply", "3mf")
_SUFFIX = {"glb": ".glb", "obj": ".obj.zip", "stl": ".stl", "ply": ".ply", "3mf": ".3mf"}


def converted_path(glb: Path, fmt: str) -> Path:
    """Where the `fmt` version of `glb` lives (the GLB itself for "glb")."""
    if fmt not in FORMATS:
        raise ValueError(f"Unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
    return glb if fmt == "glb" else glb.with_name(glb.stem + _SUFFIX[fmt])


def convert(glb: Path, fmt: str) -> Path:
    """The `fmt` version of `glb`, written atomically unless an up-to-date copy exists."""
    target = converted_path(glb, fmt)
    if target == glb or _is_fresh(target, glb):
        return target
    mesh = load_model(glb)
    atomic_write_bytes(target, _EXPORTERS[fmt](mesh, glb.stem))
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


def _3mf(mesh: trimesh.Trimesh, stem: str) -> bytes:
    return export_3mf(mesh, stem)


_EXPORTERS: dict[str, Callable[[trimesh.Trimesh, str], bytes]] = {
    "obj": _obj_zip,
    "stl": _stl,
    "ply": _ply,
    "3mf": _3mf,
}
