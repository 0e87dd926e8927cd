"""A before/after contact sheet of the offline generator on real photos.

Each photo (scikit-image's bundled pictures: people, animals, objects, documents, scenes) is
made into a model by `image2model generate` once per source tree given, and the sheet shows
the photo beside each tree's preview, labelled. Run from the checkout, with an older tree
(a `git worktree` of an earlier commit) to compare against:

    git worktree add /tmp/i2m-before 96360c2~1
    .venv/bin/python bench/offline_sheet.py --tree before=/tmp/i2m-before/src \\
        --tree after=src --out docs/offline/contact-sheet.jpg
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np
from numpy.typing import NDArray
from PIL import Image
from skimage import data

PHOTOS = {
    # name: scikit-image's function, and which of its results when it returns several
    "astronaut": ("astronaut", None),
    "cat": ("chelsea", None),
    "coffee": ("coffee", None),
    "rocket": ("rocket", None),
    "motorcycle": ("stereo_motorcycle", 0),
    "logo (RGBA)": ("logo", None),
    "cameraman": ("camera", None),
    "coins": ("coins", None),
    "page": ("page", None),
    "hubble": ("hubble_deep_field", None),
    "tissue": ("immunohistochemistry", None),
    "retina": ("retina", None),
}
TILE = 240


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--tree", action="append", required=True, help="label=path to a tree's src directory"
    )
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    trees = [tuple(t.split("=", 1)) for t in args.tree]
    rows = []
    with tempfile.TemporaryDirectory(prefix="i2m-sheet-") as tmp:
        photos = _write_photos(Path(tmp) / "in")
        previews = {label: _generate(Path(src), photos, Path(tmp) / label) for label, src in trees}
        for name, photo in photos.items():
            tiles = [_tile(_read(photo), name)]
            for label, _ in trees:
                tiles.append(_tile(_read(previews[label][name]), label))
            rows.append(np.hstack(tiles))
    sheet = np.vstack(rows)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(sheet).save(args.out, quality=85)
    print(f"wrote {args.out} ({len(rows)} photos × {len(trees)} trees)")


def _write_photos(folder: Path) -> dict[str, Path]:
    folder.mkdir(parents=True)
    written = {}
    for name, (function, index) in PHOTOS.items():
        loaded = getattr(data, function)()
        image = Image.fromarray(np.asarray(loaded if index is None else loaded[index]))
        path = folder / f"{name.split()[0]}.png"
        image.save(path)
        written[name] = path
    return written


def _generate(src: Path, photos: dict[str, Path], out: Path) -> dict[str, Path]:
    """Previews made by the tree at `src`, by photo name (a failure leaves a blank tile)."""
    env = {**os.environ, "PYTHONPATH": str(src.resolve())}
    argv = [sys.executable, "-m", "image2model", "generate", "-o", str(out)]
    subprocess.run([*argv, *map(str, photos.values())], env=env, check=False)
    return {name: out / f"{path.stem}.png" for name, path in photos.items()}


def _read(path: Path) -> NDArray[np.uint8]:
    if not path.is_file():
        return np.full((TILE, TILE, 3), 255, np.uint8)
    return np.asarray(Image.open(path).convert("RGB"))


def _tile(pixels: NDArray[np.uint8], label: str) -> NDArray[np.uint8]:
    height, width = pixels.shape[:2]
    scale = TILE / max(height, width)
    size = (round(width * scale), round(height * scale))
    small = np.asarray(cv2.resize(pixels, size, interpolation=cv2.INTER_AREA), dtype=np.uint8)
    tile = np.full((TILE + 24, TILE, 3), 255, np.uint8)
    top, left = (TILE - small.shape[0]) // 2 + 24, (TILE - small.shape[1]) // 2
    tile[top : top + small.shape[0], left : left + small.shape[1]] = small
    cv2.putText(tile, label, (6, 17), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (30, 30, 30), 1, cv2.LINE_AA)
    return tile


if __name__ == "__main__":
    main()
