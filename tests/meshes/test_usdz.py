"""USDZ read back by USD itself and held to the ARKit rules of its compliance checker."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import trimesh
from pxr import Sdf, Usd, UsdGeom, UsdShade, UsdUtils

from image2model.meshes import convert, converted_path
from image2model.meshes.usdz import export_usdz
from tests.meshes.conftest import textured_sphere


def written(tmp_path: Path, mesh: trimesh.Trimesh) -> Path:
    path = tmp_path / "model.usdz"
    path.write_bytes(export_usdz(mesh))
    return path


def arkit_problems(path: Path) -> list[str]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # still the one with ARKit rules
        checker = UsdUtils.ComplianceChecker(arkit=True, skipARKitRootLayerCheck=False)
    checker.CheckCompliance(str(path))
    return [*checker.GetErrors(), *checker.GetFailedChecks(), *checker.GetWarnings()]


def test_a_one_metre_cube_is_one_metre_with_y_up(tmp_path: Path) -> None:
    path = written(tmp_path, trimesh.creation.box(extents=(1.0, 0.5, 0.25)))
    assert arkit_problems(path) == []
    stage = Usd.Stage.Open(str(path))
    assert UsdGeom.GetStageMetersPerUnit(stage) == 1.0
    assert UsdGeom.GetStageUpAxis(stage) == UsdGeom.Tokens.y
    mesh = UsdGeom.Mesh(stage.GetDefaultPrim().GetChild("Mesh"))
    points = np.array(mesh.GetPointsAttr().Get())
    assert np.allclose(np.ptp(points, axis=0), (1.0, 0.5, 0.25))
    assert len(mesh.GetFaceVertexCountsAttr().Get()) == 12


def test_the_texture_is_in_the_package_and_bound(tmp_path: Path) -> None:
    sphere = textured_sphere(subdivisions=2)
    path = written(tmp_path, sphere)
    assert arkit_problems(path) == []
    package = Sdf.ZipFile.Open(str(path))
    assert package.GetFileNames() == ["model.usdc", "texture.png"], "root layer first"
    stage = Usd.Stage.Open(str(path))
    prim = stage.GetPrimAtPath("/Model/Mesh")
    material, _ = UsdShade.MaterialBindingAPI(prim).ComputeBoundMaterial()
    assert material.GetPath() == "/Model/Material"
    texture = UsdShade.Shader(stage.GetPrimAtPath("/Model/Material/Texture"))
    assert texture.GetInput("file").Get().path == "texture.png"
    st = UsdGeom.PrimvarsAPI(prim).GetPrimvar("st").Get()
    assert len(st) == len(sphere.vertices)
    top = int(np.argmax(sphere.vertices[:, 1]))
    assert st[top][1] > 0.9, "UVs as trimesh and USD keep them: v up"


def test_an_untextured_model_is_clay_coloured(tmp_path: Path) -> None:
    path = written(tmp_path, trimesh.creation.icosphere())
    assert arkit_problems(path) == []
    stage = Usd.Stage.Open(str(path))
    surface = UsdShade.Shader(stage.GetPrimAtPath("/Model/Material/Surface"))
    assert surface.GetInput("diffuseColor").Get() is not None
    assert Sdf.ZipFile.Open(str(path)).GetFileNames() == ["model.usdc"]


def test_a_generated_model_converts_and_passes(coffee_glb: Path) -> None:
    path = convert(coffee_glb, "usdz")
    assert path == converted_path(coffee_glb, "usdz")
    assert arkit_problems(path) == []
    stage = Usd.Stage.Open(str(path))
    faces = UsdGeom.Mesh(stage.GetPrimAtPath("/Model/Mesh")).GetFaceVertexCountsAttr().Get()
    assert len(faces) == len(trimesh.load(coffee_glb, force="mesh").faces)


def test_the_checker_does_fail_a_package_that_breaks_its_rules(tmp_path: Path) -> None:
    """The check above can fail: a USDZ with its texture outside the package does."""
    stage = Usd.Stage.CreateNew(str(tmp_path / "loose.usda"))
    UsdGeom.Xform.Define(stage, "/Model")
    stage.GetRootLayer().Save()
    loose = tmp_path / "loose.usdz"
    with Sdf.ZipFileWriter.CreateNew(str(loose)) as writer:
        writer.AddFile(str(tmp_path / "loose.usda"), "loose.usda")
    assert arkit_problems(loose), "a usda root layer and no stage metadata"
