"""Offline generator shapes: how close inflate, slab and revolve come to objects of known shape.

Each case is a mesh whose true shape we know (bodies of revolution, plates, a capsule on its
side, a ring, a chair), drawn from the front (orthographic, shaded by its normals) on a plain
background. The offline generator makes a model of each drawing with every `shape`, and each
model is compared with the true mesh after both are scaled to the same height and centred:

- front IoU: the two outlines seen from the front (what the photo shows);
- shape error: the symmetric Chamfer distance between 4,000 points sampled on each surface,
  as a fraction of the true mesh's bounding-box diagonal (what the photo does not show).

`auto` is reported with the shape it chose. Run:

    .venv/bin/python bench/bench_shape.py [--json bench/results/shape-DATE.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import trimesh
from numpy.typing import NDArray
from PIL import Image
from scipy.spatial import cKDTree

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))

from tests.support.contexts import RecordingContext  # noqa: E402

from image2model.providers.base import GenerationRequest  # noqa: E402
from image2model.providers.local import LocalProvider  # noqa: E402

SHAPES = ("inflate", "slab", "revolve", "auto")
SIDE = 512
SAMPLES = 4000
BACKGROUND = (236, 236, 232)


def _mesh(made: object) -> trimesh.Trimesh:
    """trimesh's constructors are untyped: what they made, as the mesh it is."""
    assert isinstance(made, trimesh.Trimesh), type(made)
    return made


def turn(mesh: trimesh.Trimesh, degrees: float, axis: list[int]) -> trimesh.Trimesh:
    """`mesh` turned about `axis` through the origin."""
    matrix = trimesh.transformations.rotation_matrix(np.radians(degrees), axis)  # type: ignore[no-untyped-call]
    return _mesh(mesh.apply_transform(matrix))


def lathe(profile: list[tuple[float, float]], sections: int = 96) -> trimesh.Trimesh:
    """A closed body of revolution about y from (radius, height) points, bottom to top."""
    points = np.array([(0.0, profile[0][1]), *profile, (0.0, profile[-1][1])])
    return turn(_mesh(trimesh.creation.revolve(points, sections=sections)), -90, [1, 0, 0])


def vase() -> trimesh.Trimesh:
    heights = np.linspace(0, 1.6, 40)
    radius = 0.22 + 0.25 * np.sin(np.pi * heights / 1.6 * 1.1) ** 2
    return lathe([(float(r), float(h)) for r, h in zip(radius, heights, strict=True)])


def bottle() -> trimesh.Trimesh:
    return lathe([(0.3, 0), (0.3, 0.9), (0.22, 1.05), (0.1, 1.2), (0.1, 1.55)])


def cup() -> trimesh.Trimesh:
    return lathe([(0.3, 0), (0.4, 0.9)])


def pear() -> trimesh.Trimesh:
    heights = np.linspace(0, 1.3, 40)
    radius = 0.05 + 0.45 * np.sin(np.pi * np.clip(heights / 1.3, 0, 1)) ** 0.8
    radius -= 0.18 * np.exp(-(((heights - 1.0) / 0.15) ** 2))
    return lathe([(float(max(r, 0.04)), float(h)) for r, h in zip(radius, heights, strict=True)])


def sphere() -> trimesh.Trimesh:
    return _mesh(trimesh.creation.icosphere(subdivisions=4, radius=0.5))


def board() -> trimesh.Trimesh:
    return _mesh(trimesh.creation.box((1.4, 1.0, 0.06)))


def poster() -> trimesh.Trimesh:
    return _mesh(trimesh.creation.box((1.0, 1.4, 0.03)))


def capsule_on_its_side() -> trimesh.Trimesh:
    return turn(_mesh(trimesh.creation.capsule(height=1.2, radius=0.3)), 90, [0, 1, 0])


def ring() -> trimesh.Trimesh:
    return _mesh(trimesh.creation.torus(major_radius=0.5, minor_radius=0.14))


def chair() -> trimesh.Trimesh:
    parts = [trimesh.creation.box((1.0, 0.1, 0.9)).apply_translation((0, 0.6, 0))]
    for x in (-0.45, 0.45):
        parts.append(trimesh.creation.box((0.08, 0.6, 0.08)).apply_translation((x, 0.3, 0.4)))
        parts.append(trimesh.creation.box((0.08, 0.6, 0.08)).apply_translation((x, 0.3, -0.4)))
    parts.append(trimesh.creation.box((1.0, 0.8, 0.08)).apply_translation((0, 1.05, -0.41)))
    return _mesh(trimesh.util.concatenate(parts))


CASES: dict[str, tuple[Callable[[], trimesh.Trimesh], str, float]] = {
    # name: (true mesh, the shape that applies, share of the frame's height it takes)
    "vase": (vase, "revolve", 0.8),
    "bottle": (bottle, "revolve", 0.8),
    "cup": (cup, "revolve", 0.7),
    "pear": (pear, "revolve", 0.75),
    "sphere": (sphere, "inflate", 0.7),
    "capsule on its side": (capsule_on_its_side, "inflate", 0.35),
    "ring": (ring, "inflate", 0.7),
    "chair": (chair, "inflate", 0.8),
    "board": (board, "slab", 0.7),
    "poster (fills the frame)": (poster, "slab", 1.02),
}


def draw(mesh: trimesh.Trimesh, share: float) -> NDArray[np.uint8]:
    """The mesh from the front, orthographic, shaded by its normals, centred in a square."""
    lo, hi = mesh.bounds
    scale = share * SIDE / max(hi[1] - lo[1], (hi[0] - lo[0]) * 0.98)
    centre = (lo + hi) / 2
    xy = (mesh.vertices[:, :2] - centre[:2]) * scale * [1, -1] + SIDE / 2
    image = np.full((SIDE, SIDE, 3), BACKGROUND, np.uint8)
    shade = np.clip(0.35 + 0.65 * mesh.face_normals[:, 2], 0.2, 1.0)
    points = np.round(xy * 8).astype(np.int32)
    facing = np.flatnonzero(mesh.face_normals[:, 2] > 0)  # a closed mesh hides the others
    for index in facing[np.argsort(mesh.triangles_center[facing, 2])]:  # far faces first
        colour = tuple(int(c * shade[index]) for c in (200, 90, 40))
        cv2.fillConvexPoly(image, points[mesh.faces[index]], colour, cv2.LINE_AA, shift=3)
    return image


def normalised(mesh: trimesh.Trimesh) -> trimesh.Trimesh:
    """Centred on its bounding box and scaled to unit height."""
    lo, hi = mesh.bounds
    out = mesh.copy()
    out.apply_translation(-(lo + hi) / 2)
    out.apply_scale(1.0 / (hi[1] - lo[1]))  # type: ignore[no-untyped-call]
    return out


def front_iou(a: trimesh.Trimesh, b: trimesh.Trimesh, side: int = 256) -> float:
    masks = []
    for mesh in (a, b):
        xy = mesh.vertices[:, :2] * [1, -1] * side * 0.45 + side / 2
        canvas = np.zeros((side, side), np.uint8)
        points = np.round(xy * 8).astype(np.int32)
        for face in mesh.faces:  # one by one: fillPoly would cancel where triangles overlap
            cv2.fillConvexPoly(canvas, points[face], 1, shift=3)
        masks.append(canvas.astype(bool))
    return float((masks[0] & masks[1]).sum() / max(1, (masks[0] | masks[1]).sum()))


def chamfer(a: trimesh.Trimesh, b: trimesh.Trimesh, diagonal: float) -> float:
    rng = np.random.default_rng(0)
    pa = trimesh.sample.sample_surface(a, SAMPLES, seed=rng)[0]
    pb = trimesh.sample.sample_surface(b, SAMPLES, seed=rng)[0]
    ab = cKDTree(pb).query(pa)[0].mean()
    ba = cKDTree(pa).query(pb)[0].mean()
    return float((ab + ba) / 2 / diagonal)


def run_case(
    name: str, make: Callable[[], trimesh.Trimesh], share: float, work: Path
) -> dict[str, object]:
    truth = normalised(make())
    diagonal = float(np.linalg.norm(truth.extents))
    photo = work / f"{name.replace(' ', '-')}.png"
    Image.fromarray(draw(truth, share)).save(photo)
    row: dict[str, object] = {}
    for shape in SHAPES:
        request = GenerationRequest(
            photo, work / f"{photo.stem}-{shape}", face_limit=20_000, options={"shape": shape}
        )
        result = LocalProvider().generate(request, RecordingContext())
        loaded = trimesh.load(result.model_path, force="mesh")
        assert isinstance(loaded, trimesh.Trimesh)
        model = normalised(loaded)
        row[shape] = {
            "iou": round(front_iou(truth, model), 3),
            "chamfer": round(chamfer(truth, model, diagonal), 4),
            "chose": result.shape,
        }
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, default=None, help="write the figures here too")
    args = parser.parse_args()
    print(f"machine: {platform.machine()}, Python {platform.python_version()}")
    started = time.monotonic()
    results: dict[str, dict[str, object]] = {}
    with tempfile.TemporaryDirectory(prefix="i2m-bench-shape-") as tmp:
        for name, (make, applies, share) in CASES.items():
            results[name] = {"applies": applies, **run_case(name, make, share, Path(tmp))}
    header = f"{'case':26} {'applies':8}" + "".join(f" {s + ' IoU/err':>17}" for s in SHAPES)
    print(header)
    for name, row in results.items():
        cells = []
        for shape in SHAPES:
            figures = row[shape]
            assert isinstance(figures, dict)
            chose = f"→{figures['chose'][0]}" if shape == "auto" else ""
            cells.append(f" {figures['iou']:.3f}/{figures['chamfer']:.4f}{chose:>3}")
        print(f"{name:26} {row['applies']!s:8}" + "".join(f"{c:>18}" for c in cells))
    for shape in SHAPES:
        errors = [r[shape]["chamfer"] for r in results.values()]  # type: ignore[index]
        print(f"median shape error, {shape}: {statistics.median(errors):.4f}")
    applying = [r[str(r["applies"])]["chamfer"] for r in results.values()]  # type: ignore[index]
    inflating = [r["inflate"]["chamfer"] for r in results.values()]  # type: ignore[index]
    print(
        f"median shape error, the shape that applies: {statistics.median(applying):.4f} "
        f"(inflate everywhere: {statistics.median(inflating):.4f})"
    )
    chose_right = sum(r["auto"]["chose"] == r["applies"] for r in results.values())  # type: ignore[index]
    print(f"auto chose the shape that applies in {chose_right} of {len(results)} cases")
    print(f"took {time.monotonic() - started:.0f} s")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
