"""USDZ for Apple's AR Quick Look (iOS, iPadOS, visionOS), written by Pixar's USD library.

One mesh with a UsdPreviewSurface material reading the base colour texture, in metres with
+Y up (as glTF), packed with the texture as a USDZ: uncompressed, 64-byte aligned, the root
layer first. The ARKit rules of USD's compliance checker hold for it (tests/meshes).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import trimesh
from numpy.typing import NDArray
from pxr import Kind, Sdf, Usd, UsdGeom, UsdShade, Vt

from image2model.meshes.texture import base_colour, png_bytes

ROOT = "/Model"
TEXTURE = "texture.png"
CLAY = (0.78, 0.77, 0.74)
"""Base colour of a model without a texture."""


def export_usdz(mesh: trimesh.Trimesh) -> bytes:
    """`mesh` as a USDZ package."""
    with tempfile.TemporaryDirectory(prefix="usdz-") as scratch:
        folder = Path(scratch)
        layer = folder / "model.usdc"
        texture = base_colour(mesh)
        stage = Usd.Stage.CreateNew(str(layer))
        _describe(stage, mesh, None if texture is None else texture[0])
        stage.GetRootLayer().Save()
        package = folder / "model.usdz"
        with Sdf.ZipFileWriter.CreateNew(str(package)) as writer:
            writer.AddFile(str(layer), "model.usdc")
            if texture is not None:
                (folder / TEXTURE).write_bytes(png_bytes(texture[1], alpha=False))
                writer.AddFile(str(folder / TEXTURE), TEXTURE)
        return package.read_bytes()


def _describe(stage: Usd.Stage, mesh: trimesh.Trimesh, uv: NDArray[np.float64] | None) -> None:
    UsdGeom.SetStageUpAxis(stage, UsdGeom.Tokens.y)
    UsdGeom.SetStageMetersPerUnit(stage, 1.0)
    root = UsdGeom.Xform.Define(stage, ROOT)
    stage.SetDefaultPrim(root.GetPrim())
    Usd.ModelAPI(root.GetPrim()).SetKind(Kind.Tokens.component)
    surface = UsdGeom.Mesh.Define(stage, f"{ROOT}/Mesh")
    surface.CreatePointsAttr(Vt.Vec3fArray.FromNumpy(np.asarray(mesh.vertices, np.float32)))
    surface.CreateFaceVertexCountsAttr(Vt.IntArray.FromNumpy(np.full(len(mesh.faces), 3, np.int32)))
    indices = np.asarray(mesh.faces, np.int32).reshape(-1)
    surface.CreateFaceVertexIndicesAttr(Vt.IntArray.FromNumpy(indices))
    surface.CreateExtentAttr(Vt.Vec3fArray.FromNumpy(np.asarray(mesh.bounds, np.float32)))
    surface.CreateSubdivisionSchemeAttr(UsdGeom.Tokens.none)
    normals = np.asarray(mesh.vertex_normals, np.float32)
    surface.CreateNormalsAttr(Vt.Vec3fArray.FromNumpy(normals))
    surface.SetNormalsInterpolation(UsdGeom.Tokens.vertex)
    material = UsdShade.Material.Define(stage, f"{ROOT}/Material")
    shader = UsdShade.Shader.Define(stage, f"{ROOT}/Material/Surface")
    shader.CreateIdAttr("UsdPreviewSurface")
    shader.CreateInput("roughness", Sdf.ValueTypeNames.Float).Set(0.8)
    shader.CreateInput("metallic", Sdf.ValueTypeNames.Float).Set(0.0)
    colour = shader.CreateInput("diffuseColor", Sdf.ValueTypeNames.Color3f)
    if uv is not None:
        primvars = UsdGeom.PrimvarsAPI(surface)
        st = primvars.CreatePrimvar("st", Sdf.ValueTypeNames.TexCoord2fArray, UsdGeom.Tokens.vertex)
        st.Set(Vt.Vec2fArray.FromNumpy(np.asarray(uv, np.float32)))
        colour.ConnectToSource(_texture_reader(stage).ConnectableAPI(), "rgb")
    else:
        colour.Set(CLAY)
    material.CreateSurfaceOutput().ConnectToSource(shader.ConnectableAPI(), "surface")
    UsdShade.MaterialBindingAPI.Apply(surface.GetPrim()).Bind(material)


def _texture_reader(stage: Usd.Stage) -> UsdShade.Shader:
    """A UsdUVTexture of the packaged texture, looked up at the mesh's `st` coordinates."""
    coordinates = UsdShade.Shader.Define(stage, f"{ROOT}/Material/Coordinates")
    coordinates.CreateIdAttr("UsdPrimvarReader_float2")
    coordinates.CreateInput("varname", Sdf.ValueTypeNames.String).Set("st")
    coordinates.CreateOutput("result", Sdf.ValueTypeNames.Float2)
    texture = UsdShade.Shader.Define(stage, f"{ROOT}/Material/Texture")
    texture.CreateIdAttr("UsdUVTexture")
    texture.CreateInput("file", Sdf.ValueTypeNames.Asset).Set(TEXTURE)
    texture.CreateInput("st", Sdf.ValueTypeNames.Float2).ConnectToSource(
        coordinates.ConnectableAPI(), "result"
    )
    texture.CreateInput("sourceColorSpace", Sdf.ValueTypeNames.Token).Set("sRGB")
    texture.CreateOutput("rgb", Sdf.ValueTypeNames.Float3)
    return texture
