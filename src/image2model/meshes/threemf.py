"""3MF for slicers (PrusaSlicer, Bambu Studio, Cura), written by the 3MF Consortium's lib3mf.

Millimetres, +Z up and standing on the build plate at z = 0, as slicers expect; glTF's
metres and +Y up are turned into that. A textured model carries its texture through the
Materials extension (a texture group with a UV per corner); an untextured one is plain
geometry. Vertices that a texture seam split are welded: the UVs go per corner.
"""

from __future__ import annotations

import lib3mf
import numpy as np
import trimesh
from numpy.typing import NDArray

from image2model.meshes.printability import MM_PER_UNIT, printable_geometry
from image2model.meshes.texture import base_colour, png_bytes

TEXTURE_PART = "/3D/Texture/texture.png"
TEXTURE_RELATIONSHIP = "http://schemas.microsoft.com/3dmanufacturing/2013/01/3dtexture"


def to_print_space(vertices: NDArray[np.float64], size_mm: float | None) -> NDArray[np.float64]:
    """glTF metres, +Y up → millimetres, +Z up, on the plate; longest side `size_mm` if given."""
    x, y, z = vertices[:, 0], vertices[:, 1], vertices[:, 2]
    turned = np.column_stack([x, -z, y]) * MM_PER_UNIT
    if size_mm is not None:
        turned *= size_mm / max(float(np.ptp(turned, axis=0).max()), 1e-9)
    minimum = turned.min(axis=0)
    centre = (turned.max(axis=0) + minimum) / 2
    return np.asarray(turned - [centre[0], centre[1], minimum[2]], dtype=np.float64)


def export_3mf(mesh: trimesh.Trimesh, name: str, size_mm: float | None = None) -> bytes:
    """`mesh` as a 3MF package: one object, one build item, its texture if it has one."""
    wrapper = lib3mf.get_wrapper()
    model = wrapper.CreateModel()
    model.SetUnit(lib3mf.ModelUnit.MilliMeter)
    body = model.AddMeshObject()
    body.SetName(name)
    positions, corners = printable_geometry(mesh)
    body.SetGeometry(_positions(to_print_space(positions, size_mm)), _triangles(corners))
    texture = base_colour(mesh)
    if texture is not None:
        uv, image = texture
        _attach_texture(model, body, mesh.faces, uv, png_bytes(image))
    model.AddBuildItem(body, wrapper.GetIdentityTransform())
    writer = model.QueryWriter("3mf")
    return bytes(writer.WriteToBuffer())


def _positions(vertices: NDArray[np.float64]) -> list[lib3mf.Position]:
    positions = []
    for x, y, z in vertices.tolist():
        position = lib3mf.Position()
        position.Coordinates[0], position.Coordinates[1], position.Coordinates[2] = x, y, z
        positions.append(position)
    return positions


def _triangles(faces: NDArray[np.int64]) -> list[lib3mf.Triangle]:
    triangles = []
    for a, b, c in faces.tolist():
        triangle = lib3mf.Triangle()
        triangle.Indices[0], triangle.Indices[1], triangle.Indices[2] = a, b, c
        triangles.append(triangle)
    return triangles


def _attach_texture(
    model: lib3mf.Model,
    body: lib3mf.MeshObject,
    faces: NDArray[np.int64],
    uv: NDArray[np.float64],
    png: bytes,
) -> None:
    """A texture group with one UV per vertex (trimesh's UVs start bottom left, as 3MF's)."""
    attachment = model.AddAttachment(TEXTURE_PART, TEXTURE_RELATIONSHIP)
    attachment.ReadFromBuffer(png)
    texture = model.AddTexture2DFromAttachment(attachment)
    texture.SetContentType(lib3mf.TextureType.PNG)
    group = model.AddTexture2DGroup(texture)
    ids = [group.AddTex2Coord(lib3mf.Tex2Coord(u, v)) for u, v in uv.tolist()]
    resource = group.GetResourceID()
    properties = []
    for a, b, c in faces.tolist():
        corner = lib3mf.TriangleProperties()
        corner.ResourceID = resource
        corner.PropertyIDs[0], corner.PropertyIDs[1], corner.PropertyIDs[2] = ids[a], ids[b], ids[c]
        properties.append(corner)
    body.SetAllTriangleProperties(properties)
    body.SetObjectLevelProperty(resource, ids[0])
