"""Benchmark the offline generator and the shared post-processing on scikit-image's photos.

Each measurement runs in a fresh child process, so its peak RSS is that image's alone
(interpreter and imports included). Run from the repository root:

    .venv/bin/python bench/generator.py                # full matrix, writes bench/results/
    .venv/bin/python bench/generator.py --repeats 1 --sizes 512 --no-write
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

PHOTOS = ("coffee", "chelsea", "astronaut", "horse")
ROOT = Path(__file__).resolve().parents[1]


class _Quiet:
    def report(self, progress: float, message: str) -> None:
        pass

    def load_state(self) -> dict[str, Any]:
        return {}

    def save_state(self, state: dict[str, Any]) -> None:
        pass

    def is_cancelled(self) -> bool:
        return False


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(image: Path, faces: int, work: Path) -> dict[str, float]:
    """One image in this process: generate (cold, then warm), post-process, convert.

    The allocator is set up and memory given back between the two generations as a worker
    does it (at start, and after each task).
    """
    from image2model import heap, meshes
    from image2model.providers.base import GenerationRequest
    from image2model.providers.local import LocalProvider

    heap.keep_large_blocks_mapped()
    imported_mb = _peak_mb()
    timings: dict[str, float] = {"imported_mb": imported_mb}
    for run in ("cold", "warm"):
        request = GenerationRequest(image, work / run, face_limit=faces)
        start = time.perf_counter()
        result = LocalProvider().generate(request, _Quiet())
        timings[f"generate_{run}_s"] = time.perf_counter() - start
        if run == "cold":
            timings["generate_peak_mb"] = _peak_mb()
            heap.give_back()
    start = time.perf_counter()
    final = meshes.finalize_model(
        result.model_path,
        work / "final",
        "model",
        face_limit=faces,
        face_limit_applied=True,
        preview=None,
    )
    timings["finalize_s"] = time.perf_counter() - start
    start = time.perf_counter()
    meshes.render_preview(final.glb_path, work / "again.png")
    timings["preview_s"] = time.perf_counter() - start
    tools = meshes.Tools.find(None)
    for fmt in ("obj", "stl", "ply", "3mf", "usdz", "fbx"):
        start = time.perf_counter()
        meshes.convert(final.glb_path, fmt, tools)
        timings[f"convert_{fmt}_s"] = time.perf_counter() - start
    # the turntable's goal is for one core: the process is held to one while it renders
    cores = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {min(cores)})
    start = time.perf_counter()
    meshes.turntable(final.glb_path, "webp")
    timings["turntable_s"] = time.perf_counter() - start
    os.sched_setaffinity(0, cores)
    timings["faces"] = final.stats.faces
    timings["watertight"] = float(final.stats.watertight)
    timings["total_peak_mb"] = _peak_mb()
    return timings


def make_inputs(directory: Path, sizes: list[int]) -> dict[tuple[str, int], Path]:
    """JPEGs of each sample photo with its longer side resized to each size."""
    import numpy as np
    from PIL import Image
    from skimage import data

    inputs = {}
    for name in PHOTOS:
        pixels = getattr(data, name)()
        if pixels.dtype == bool:
            pixels = np.where(pixels, 255, 0).astype(np.uint8)
        image = Image.fromarray(pixels).convert("RGB")
        for size in sizes:
            scale = size / max(image.size)
            resized = image.resize(
                (round(image.width * scale), round(image.height * scale)), Image.Resampling.LANCZOS
            )
            path = directory / f"{name}-{size}.jpg"
            resized.save(path, quality=92)
            inputs[name, size] = path
    return inputs


def measure(image: Path, faces: int, work: Path) -> dict[str, float]:
    """Run `child` in a fresh interpreter and return its figures."""
    completed = subprocess.run(
        [sys.executable, __file__, "--child", str(image), str(faces), str(work)],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    figures: dict[str, float] = json.loads(completed.stdout.strip().splitlines()[-1])
    return figures


def run_matrix(sizes: list[int], face_limits: list[int], repeats: int) -> list[dict[str, Any]]:
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-generator-") as scratch:
        inputs = make_inputs(Path(scratch), sizes)
        for size in sizes:
            for faces in face_limits:
                samples = []
                for name in PHOTOS:
                    for repeat in range(repeats):
                        work = Path(scratch) / f"{name}-{size}-{faces}-{repeat}"
                        samples.append(measure(inputs[name, size], faces, work))
                rows.append(_summarise(size, faces, samples))
                print(_row(rows[-1]), flush=True)
    return rows


def _summarise(size: int, faces: int, samples: list[dict[str, float]]) -> dict[str, Any]:
    def median(key: str) -> float:
        return statistics.median(s[key] for s in samples)

    keys = [k for k in samples[0] if k not in ("faces", "watertight")]
    summary: dict[str, Any] = {"size": size, "face_limit": faces, "runs": len(samples)}
    summary.update({key: median(key) for key in keys})
    summary["max_generate_peak_mb"] = max(s["generate_peak_mb"] for s in samples)
    summary["max_total_peak_mb"] = max(s["total_peak_mb"] for s in samples)
    summary["all_watertight"] = all(s["watertight"] for s in samples)
    summary["max_faces"] = max(s["faces"] for s in samples)
    return summary


HEADER = (
    "| input px | face limit | runs | generate cold s | generate warm s | peak MB (gen, max) "
    "| peak MB (all, max) | finalize+preview s | preview s | OBJ zip s | STL s | PLY s "
    "| 3MF s | USDZ s | FBX s | turntable s (1 core) | max faces | all closed |\n"
    "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
)


def _row(r: dict[str, Any]) -> str:
    return (
        f"| {r['size']} | {r['face_limit']} | {r['runs']} | {r['generate_cold_s']:.3f} "
        f"| {r['generate_warm_s']:.3f} | {r['max_generate_peak_mb']:.0f} "
        f"| {r['max_total_peak_mb']:.0f} | {r['finalize_s']:.3f} | {r['preview_s']:.3f} "
        f"| {r['convert_obj_s']:.3f} | {r['convert_stl_s']:.3f} | {r['convert_ply_s']:.3f} "
        f"| {r['convert_3mf_s']:.3f} | {r['convert_usdz_s']:.3f} | {r['convert_fbx_s']:.3f} "
        f"| {r['turntable_s']:.3f} | {r['max_faces']} | {'yes' if r['all_watertight'] else 'NO'} |"
    )


def machine() -> str:
    uname = " ".join(platform.uname())
    return (
        f"- date: {datetime.date.today().isoformat()}\n"
        f"- machine: `{uname}`\n"
        f"- nproc: {os.cpu_count()}\n"
        f"- python: {platform.python_version()}\n"
    )


def write_results(rows: list[dict[str, Any]], command: str) -> Path:
    path = ROOT / "bench" / "results" / f"generator-{datetime.date.today().isoformat()}.md"
    lines = [
        "# Offline generator benchmark",
        "",
        machine(),
        f"Command: `{command}`",
        "",
        "Medians over the four scikit-image photos (coffee, chelsea, astronaut, horse) x "
        "repeats, each run in a fresh process. *cold* is the first generation in that "
        "process, *warm* a second one. Peak MB is the child's max RSS (interpreter and "
        "imports included), the largest over all runs.",
        "",
        HEADER,
        *(_row(r) for r in rows),
        "",
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines))
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="512,1024,2048")
    parser.add_argument("--faces", default="10000,50000")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-write", action="store_true", help="print only")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        image, faces, work = args.child
        print(json.dumps(child(Path(image), int(faces), Path(work))))
        return
    print(machine())
    print(HEADER)
    sizes = [int(s) for s in args.sizes.split(",")]
    rows = run_matrix(sizes, [int(f) for f in args.faces.split(",")], args.repeats)
    if not args.no_write:
        command = "python bench/generator.py " + " ".join(sys.argv[1:])
        print(f"written to {write_results(rows, command.strip())}")


if __name__ == "__main__":
    main()
