"""Post-processing shared by every provider: validate, decimate, convert, preview, stats."""

from image2model.meshes.assimp import ConversionFailed
from image2model.meshes.convert import (
    FORMATS,
    SIZED,
    FormatUnavailable,
    Tools,
    convert,
    converted_path,
    turntable,
)
from image2model.meshes.finalize import FinalModel, finalize_model
from image2model.meshes.preview import render_preview
from image2model.meshes.validate import InvalidModel, MeshStats

__all__ = [
    "FORMATS",
    "SIZED",
    "ConversionFailed",
    "FinalModel",
    "FormatUnavailable",
    "InvalidModel",
    "MeshStats",
    "Tools",
    "convert",
    "converted_path",
    "finalize_model",
    "render_preview",
    "turntable",
]
