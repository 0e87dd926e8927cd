"""Post-processing shared by every provider: validate, decimate, convert, preview, stats."""

from image2model.meshes.convert import FORMATS, convert, converted_path
from image2model.meshes.finalize import FinalModel, finalize_model
from image2model.meshes.preview import render_preview
from image2model.meshes.validate import InvalidModel, MeshStats

__all__ = [
    "FORMATS",
    "FinalModel",
    "InvalidModel",
    "MeshStats",
    "convert",
    "converted_path",
    "finalize_model",
    "render_preview",
]
