"""Scale-out: one offline-generator batch on one worker host, then on two.

A "host" is one `image2model worker --concurrency 1` process pinned to a core of its own
(`taskset`), as two one-core machines would each bring their CPU; the API and Redis are
shared, as in a multi-host deployment (one Redis, one data volume). The batch is the same
each time: scikit-image's sample photos at 768 px, cycled, on the offline generator.

Measures, per run: items/s = images / (upload response → the job's `finished_at`), and each
item's time on its worker (`finished_at − started_at`); then the ratio of the medians, two
hosts over one. Runs alternate (one host, two hosts, one host, …) so drift hits both alike.
"""

from __future__ import annotations

import argparse
import io
import statistics
import time
from typing import Any

from harness import (
    Stack,
    deployment,
    distribution,
    machine,
    save,
    wait_job,
    wait_quiet,
)

PHOTOS = ("coffee", "chelsea", "astronaut", "horse")


def photos(size: int) -> list[bytes]:
    """JPEGs of scikit-image's sample photos, the longer side resized to `size`."""
    import numpy as np
    from PIL import Image
    from skimage import data

    out = []
    for name in PHOTOS:
        pixels = getattr(data, name)()
        if pixels.dtype == bool:
            pixels = np.where(pixels, 255, 0).astype(np.uint8)
        image = Image.fromarray(pixels).convert("RGB")
        scale = size / max(image.size)
        image = image.resize((round(image.width * scale), round(image.height * scale)))
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", quality=92)
        out.append(buffer.getvalue())
    return out


def run_batch(stack: Stack, hosts: int, images: list[bytes], count: int) -> dict[str, Any]:
    for host in range(hosts):
        stack.start_worker(1, cpus=str(host % 2))
    files = [
        ("files", (f"photo{i:02d}.jpg", images[i % len(images)], "image/jpeg"))
        for i in range(count)
    ]
    with stack.client() as client:
        response = client.post("/api/v1/upload/", files=files, data={"provider": "local"})
        uploaded = time.time()
    if response.status_code != 202:
        raise RuntimeError(f"upload failed: {response.status_code} {response.text[:300]}")
    job = wait_job(stack, response.json()["job_id"], timeout=900)
    stack.stop_workers()
    items = job["items"]
    failed = [item for item in items if item["status"] != "completed"]
    if failed:
        raise RuntimeError(f"{len(failed)} items did not complete: {failed[0]}")
    wall = max(item["finished_at"] for item in items) - uploaded
    per_item = [item["finished_at"] - item["started_at"] for item in items]
    return {
        "hosts": hosts,
        "images": len(items),
        "wall_s": round(wall, 2),
        "items_per_s": round(len(items) / wall, 3),
        "item_on_worker_ms": distribution(per_item),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--images", type=int, default=24)
    parser.add_argument("--size", type=int, default=768, help="longer side of each photo")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args()
    images = photos(args.size)
    runs: dict[int, list[dict[str, Any]]] = {1: [], 2: []}
    with deployment(DEFAULT_PROVIDER="local") as stack:
        stack.start_api()
        for run in range(args.runs):
            for hosts in (1, 2):
                busy = wait_quiet()
                result = run_batch(stack, hosts, images, args.images)
                result["cpu_busy_before_pct"] = busy
                print(f"run {run + 1}, {hosts} host(s): {result}", flush=True)
                runs[hosts].append(result)
    medians = {h: statistics.median(r["items_per_s"] for r in runs[h]) for h in runs}
    summary = {
        "items_per_s_median": medians,
        "ratio_two_over_one": round(medians[2] / medians[1], 2),
    }
    print(summary)
    save(
        args.json,
        {
            "benchmark": "scaleout",
            "machine": machine(),
            "batch": {"images": args.images, "size": args.size, "provider": "local"},
            "runs": runs,
            "summary": summary,
        },
    )


if __name__ == "__main__":
    main()
