"""The offline generator: photo → silhouette → inflated closed mesh → textured GLB, on CPU."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import trimesh
from numpy.typing import NDArray

from image2model.errors import InvalidField
from image2model.meshes.decimate import decimate
from image2model.meshes.validate import InvalidModel, is_closed
from image2model.providers.base import (
    Cancelled,
    GenerationRequest,
    GenerationResult,
    ModelSpec,
    OptionSpec,
    ProviderContext,
    ProviderError,
)
from image2model.providers.local import matte
from image2model.providers.local.export import plain_mesh, textured_mesh, to_model_space, write_glb
from image2model.providers.local.image import load_photo
from image2model.providers.local.mask import find_silhouette
from image2model.providers.local.shape import SHAPES, choose_shape, grid_size, inflate, revolve
from image2model.providers.local.texture import make_texture
from image2model.providers.options import coerce

DEFAULT_FACES = 50_000
MIN_FACES = 100
OVERSAMPLE = 1.5
"""Marching cubes makes this many times the budget; decimation then spends faces on curvature."""

THICKNESS = OptionSpec(
    "thickness",
    "float",
    default=1.0,
    minimum=0.1,
    maximum=3.0,
    description="Depth of the inflated shape relative to its width (1 = round like a ball)",
)
BACK = OptionSpec(
    "back",
    "choice",
    default="mirror",
    choices=("mirror", "blur"),
    description="Back texture: the photo mirrored through the object, or a blurred copy",
)
FACE_LIMIT = OptionSpec(
    "face_limit",
    "int",
    default=DEFAULT_FACES,
    minimum=MIN_FACES,
    maximum=500_000,
    description="Most triangles the model may have",
)
TEXTURE = OptionSpec(
    "texture", "bool", default=True, description="Project the photo onto the model as a texture"
)
SHAPE = OptionSpec(
    "shape",
    "choice",
    default="auto",
    choices=("auto", *SHAPES),
    description=(
        "inflate: round like a cushion; slab: a thin plate (boards, posters, scenes); "
        "revolve: turned about a vertical axis (cups, vases, bottles); auto chooses"
    ),
)
SEED = OptionSpec(
    "seed", "int", minimum=0, maximum=2**31 - 1, description="Accepted for API uniformity"
)
MODEL = ModelSpec(
    id="silhouette",
    name="Silhouette inflation (offline, CPU)",
    description="Closed textured mesh inflated from the object's outline; no network needed",
    options=(FACE_LIMIT, TEXTURE, SEED, SHAPE, THICKNESS, BACK),
)


@dataclass(frozen=True)
class _Options:
    shape: str
    thickness: float
    blurred_back: bool
    faces: int


class LocalProvider:
    """Generates models on this machine in about a second, with no weights or network."""

    name = "local"
    models = (MODEL,)

    def generate(self, request: GenerationRequest, context: ProviderContext) -> GenerationResult:
        """Write `model.glb` in the work directory; ProviderError or Cancelled on failure."""
        options = _read_options(request)
        _step(context, 5, "Reading image")
        photo = load_photo(request.image_path)
        _step(context, 15, "Separating the object from the background")
        seed = request.options.get("seed") or 0
        silhouette = find_silhouette(photo, seed=seed, matte=matte.packaged())
        shape = options.shape
        if shape == "auto":
            shape = "slab" if silhouette.fallback else choose_shape(silhouette.coverage)
        _step(context, 35, f"Making the silhouette a closed volume ({shape})")
        aspect = photo.rgb.shape[:2]
        mesh = _closed_mesh(silhouette.coverage, aspect, options, shape)
        _step(context, 75, "Projecting the texture")
        if request.options.get("texture", True):
            texture = make_texture(photo, silhouette.coverage, blurred_back=options.blurred_back)
            mesh = textured_mesh(mesh, aspect, texture)
        else:
            mesh = plain_mesh(mesh)
        _step(context, 90, "Writing the model")
        request.work_dir.mkdir(parents=True, exist_ok=True)
        path = write_glb(mesh, request.work_dir / "model.glb")
        context.report(100, f"Model ready ({len(mesh.faces)} faces)")
        return GenerationResult(model_path=path, face_limit_applied=True, shape=shape)


def _step(context: ProviderContext, progress: float, message: str) -> None:
    if context.is_cancelled():
        raise Cancelled
    context.report(progress, message)


def _read_options(request: GenerationRequest) -> _Options:
    raw: dict[str, Any] = request.options
    try:
        shape = coerce(SHAPE, raw.get("shape", SHAPE.default))
        thickness = coerce(THICKNESS, raw.get("thickness", THICKNESS.default))
        back = coerce(BACK, raw.get("back", BACK.default))
    except InvalidField as exc:
        raise ProviderError("INVALID_OPTION", exc.message) from exc
    faces = DEFAULT_FACES if request.face_limit is None else request.face_limit
    if faces < MIN_FACES:
        raise ProviderError("INVALID_OPTION", f"face_limit must be at least {MIN_FACES}")
    return _Options(str(shape), float(thickness), back == "blur", faces)


def _closed_mesh(
    coverage: NDArray[np.float32], aspect: tuple[int, ...], options: _Options, shape: str
) -> trimesh.Trimesh:
    """A watertight mesh within the face budget; coarser grids if decimation tears it."""
    targets = [OVERSAMPLE * options.faces, options.faces, options.faces / 2, options.faces / 4]
    for target in targets:
        grid = grid_size(coverage, int(target))
        if shape == "revolve":
            frame, faces = revolve(coverage, grid, thickness=options.thickness)
        else:
            flat = shape == "slab"
            frame, faces = inflate(coverage, grid, thickness=options.thickness, flat=flat)
        mesh = trimesh.Trimesh(to_model_space(frame, (aspect[0], aspect[1])), faces)
        try:
            mesh = decimate(mesh, options.faces)
        except InvalidModel:
            continue
        if is_closed(mesh):
            return mesh
    raise ProviderError(
        "MESH_FAILED",
        f"Could not build a closed mesh within face_limit={options.faces}; allow more faces",
    )
