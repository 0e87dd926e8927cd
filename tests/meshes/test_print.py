"""Print-ready output: the printability report, and 3MF read back by lib3mf itself."""

from __future__ import annotations

from pathlib import Path

import lib3mf
import numpy as np
import pytest
import trimesh

from image2model.meshes import convert, converted_path
from image2model.meshes.printability import printability
from image2model.meshes.threemf import TEXTURE_PART, export_3mf
from tests.meshes.conftest import textured_sphere


def read_3mf(data: bytes) -> lib3mf.Model:
    model = lib3mf.get_wrapper().CreateModel()
    model.QueryReader("3mf").ReadFromBuffer(data)
    return model


def the_object(model: lib3mf.Model) -> lib3mf.MeshObject:
    objects = model.GetMeshObjects()
    assert objects.Count() == 1
    objects.MoveNext()
    return objects.GetCurrentMeshObject()


def corners(body: lib3mf.MeshObject) -> np.ndarray:
    return np.array([list(v.Coordinates) for v in body.GetVertices()])


def test_a_one_metre_cube_is_a_1000_mm_cube_on_the_plate() -> None:
    cube = trimesh.creation.box(extents=(1.0, 0.5, 0.25))  # glTF: y is up
    model = read_3mf(export_3mf(cube, "cube"))
    assert model.GetUnit() == lib3mf.ModelUnit.MilliMeter
    body = the_object(model)
    assert body.GetName() == "cube" and body.GetTriangleCount() == 12
    assert body.IsManifoldAndOriented()
    points = corners(body)
    assert np.allclose(np.ptp(points, axis=0), (1000.0, 250.0, 500.0)), "z up: glTF's y"
    assert np.isclose(points[:, 2].min(), 0.0), "standing on the plate"
    assert np.allclose((points.max(axis=0) + points.min(axis=0))[:2] / 2, 0.0)


def test_a_size_scales_the_longest_side() -> None:
    cube = trimesh.creation.box(extents=(1.0, 0.5, 0.25))
    points = corners(the_object(read_3mf(export_3mf(cube, "cube", size_mm=80))))
    assert np.allclose(np.ptp(points, axis=0), (80.0, 20.0, 40.0))


def test_the_texture_travels_with_a_uv_per_corner() -> None:
    sphere = textured_sphere(subdivisions=2)
    model = read_3mf(export_3mf(sphere, "sphere"))
    body = the_object(model)
    groups = model.GetTexture2DGroups()
    assert groups.Count() == 1
    groups.MoveNext()
    group = groups.GetCurrentTexture2DGroup()
    assert group.GetCount() == len(sphere.vertices)
    attachment = model.FindAttachment(TEXTURE_PART)
    assert attachment.GetStreamSize() > 0
    # the triangle touching the top of the sphere reads the red upper half of the texture
    top = int(np.argmax(sphere.triangles_center[:, 1]))
    properties = body.GetTriangleProperties(top)
    assert properties.ResourceID == group.GetResourceID()
    u, v = (
        group.GetTex2Coord(properties.PropertyIDs[0]).U,
        group.GetTex2Coord(properties.PropertyIDs[0]).V,
    )
    assert v > 0.9 and 0.3 < u < 0.7
    assert sphere.visual.material.baseColorTexture.getpixel((int(u * 63), 0))[0] > 200


def test_vertices_split_at_texture_seams_are_one_again() -> None:
    sphere = textured_sphere(subdivisions=2)
    corners_apart = sphere.faces.reshape(-1)
    split = trimesh.Trimesh(
        sphere.vertices[corners_apart],
        np.arange(len(corners_apart)).reshape(-1, 3),
        visual=trimesh.visual.TextureVisuals(
            uv=sphere.visual.uv[corners_apart], material=sphere.visual.material
        ),
        process=False,
    )
    body = the_object(read_3mf(export_3mf(split, "split")))
    assert body.GetVertexCount() == len(sphere.vertices)
    assert body.IsManifoldAndOriented()


def test_an_untextured_model_is_plain_geometry() -> None:
    model = read_3mf(export_3mf(trimesh.creation.icosphere(), "ball"))
    assert model.GetTexture2DGroups().Count() == 0
    assert the_object(model).IsManifoldAndOriented()


def test_a_closed_model_reports_its_print_figures() -> None:
    report = printability(trimesh.creation.box(extents=(0.1, 0.02, 0.05)))
    assert report.watertight and report.winding_consistent and report.bodies == 1
    assert report.size_mm == [100.0, 20.0, 50.0]
    assert report.volume_mm3 == pytest.approx(100_000.0)
    assert report.area_mm2 == pytest.approx(2 * (2000 + 5000 + 1000))


def test_texture_seams_are_not_holes() -> None:
    box = trimesh.creation.box(extents=(0.1, 0.1, 0.1))
    # every face with its own corners, as where a texture splits vertices along seams
    split = trimesh.Trimesh(
        box.triangles.reshape(-1, 3), np.arange(36).reshape(-1, 3), process=False
    )
    assert not split.is_watertight
    report = printability(split)
    assert report.watertight and report.volume_mm3 == pytest.approx(1_000_000.0)


def test_parts_touching_at_a_corner_stay_closed_in_report_and_3mf() -> None:
    first = trimesh.creation.box(bounds=((0, 0, 0), (0.1, 0.1, 0.1)))
    second = trimesh.creation.box(bounds=((0.1, 0.1, 0.1), (0.2, 0.2, 0.2)))
    touching = trimesh.util.concatenate([first, second])  # the shared corner stays two vertices
    report = printability(touching)
    assert report.watertight and report.bodies == 2
    assert report.volume_mm3 == pytest.approx(2_000_000.0)
    assert the_object(read_3mf(export_3mf(touching, "pair"))).IsManifoldAndOriented()


def test_an_open_mesh_and_separate_parts_are_said() -> None:
    box = trimesh.creation.box()
    open_box = trimesh.Trimesh(box.vertices, box.faces[:-2])
    report = printability(open_box)
    assert not report.watertight and report.volume_mm3 is None

    apart = trimesh.util.concatenate(
        [trimesh.creation.box(), trimesh.creation.box().apply_translation((3, 0, 0))]
    )
    assert printability(apart).bodies == 2

    flipped = box.copy()
    flipped.faces[0] = flipped.faces[0][::-1]
    assert not printability(flipped).winding_consistent


def test_a_generated_model_becomes_a_closed_textured_3mf(coffee_glb: Path) -> None:
    path = convert(coffee_glb, "3mf")
    assert path == converted_path(coffee_glb, "3mf") and path.suffix == ".3mf"
    model = read_3mf(path.read_bytes())
    body = the_object(model)
    original = trimesh.load(coffee_glb, force="mesh")
    assert body.GetTriangleCount() == len(original.faces)
    assert body.IsManifoldAndOriented(), "closed and consistently wound, as lib3mf sees it"
    assert model.GetTexture2DGroups().Count() == 1
    size = np.ptp(corners(body), axis=0)
    assert np.allclose(size, np.array(original.extents)[[0, 2, 1]] * 1000, rtol=1e-4)


def test_each_size_is_its_own_cached_file(coffee_glb: Path) -> None:
    plain, small = convert(coffee_glb, "3mf"), convert(coffee_glb, "3mf", size_mm=120)
    assert small.name == "model.120mm.3mf" and plain.name == "model.3mf"
    size = np.ptp(corners(the_object(read_3mf(small.read_bytes()))), axis=0)
    assert np.isclose(size.max(), 120.0)
    with pytest.raises(ValueError, match="3mf only"):
        converted_path(coffee_glb, "stl", 120)
