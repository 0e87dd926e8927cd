"""The local provider end to end: real photos and edge cases in, closed textured GLBs out."""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import trimesh
from PIL import Image, ImageDraw
from skimage import data

from image2model.meshes.validate import is_closed
from image2model.providers.base import Cancelled, GenerationRequest, ProviderError
from image2model.providers.local import LocalProvider
from tests.support.contexts import RecordingContext

FACE_LIMIT = 5000


def generate(
    image: Path,
    *,
    face_limit: int | None = FACE_LIMIT,
    context: RecordingContext | None = None,
    **kw: Any,
) -> Path:
    options = {**kw.pop("options", {}), **kw}
    request = GenerationRequest(
        image, image.parent / f"work-{image.stem}", face_limit=face_limit, options=options
    )
    result = LocalProvider().generate(request, context or RecordingContext())
    assert result.face_limit_applied
    assert result.model_path.parent == request.work_dir
    return result.model_path


def sample(tmp_path: Path, name: str, side: int = 384) -> Path:
    pixels = getattr(data, name)()
    if pixels.dtype == bool:  # the horse: a black silhouette on white
        pixels = np.where(pixels, 255, 0).astype(np.uint8)
    image = Image.fromarray(pixels).convert("RGB")
    image.thumbnail((side, side))
    path = tmp_path / f"{name}.jpg"
    image.save(path, quality=92)
    return path


def cutout(tmp_path: Path, size: tuple[int, int] = (240, 200)) -> Path:
    """An orange blob on fully transparent *green* pixels: any green in the texture is a halo."""
    image = Image.new("RGBA", size, (0, 255, 0, 0))
    ImageDraw.Draw(image).ellipse((40, 30, size[0] - 40, size[1] - 30), fill=(240, 120, 20, 255))
    path = tmp_path / "cutout.png"
    image.save(path)
    return path


def glb_json(path: Path) -> dict[str, Any]:
    blob = path.read_bytes()
    length = struct.unpack_from("<I", blob, 12)[0]
    document: dict[str, Any] = json.loads(blob[20 : 20 + length])
    return document


def assert_textured(path: Path) -> trimesh.Trimesh:
    document = glb_json(path)
    primitive = document["meshes"][0]["primitives"][0]
    assert {"POSITION", "NORMAL", "TEXCOORD_0"} <= set(primitive["attributes"])
    material = document["materials"][primitive["material"]]
    assert "baseColorTexture" in material["pbrMetallicRoughness"]
    mesh = trimesh.load(path, force="mesh")
    assert mesh.visual.material.baseColorTexture is not None
    return mesh


@pytest.mark.parametrize("name", ["coffee", "chelsea", "astronaut", "horse"])
def test_sample_photos_become_closed_textured_models(tmp_path: Path, name: str) -> None:
    context = RecordingContext()
    mesh = assert_textured(generate(sample(tmp_path, name), context=context))
    assert mesh.is_watertight
    assert mesh.is_winding_consistent and mesh.volume > 0
    assert FACE_LIMIT * 0.6 <= len(mesh.faces) <= FACE_LIMIT
    progress = [p for p, _ in context.reports]
    assert progress == sorted(progress) and progress[-1] == 100
    assert len(progress) >= 5


def test_cutout_uses_alpha_and_shows_no_background_halo(tmp_path: Path) -> None:
    mesh = assert_textured(generate(cutout(tmp_path)))
    assert mesh.is_watertight
    texture = np.asarray(mesh.visual.material.baseColorTexture.convert("RGB")).astype(int)
    height, width = texture.shape[:2]
    u, v = mesh.visual.uv[:, 0], mesh.visual.uv[:, 1]
    texels = texture[
        ((1 - v) * (height - 1)).round().astype(int), (u * (width - 1)).round().astype(int)
    ]
    # Every vertex, rim included, samples the object's orange; none the hidden green.
    assert (texels[:, 1] < 170).all()
    assert (texels[:, 0] > 180).all()
    # Width/height of the model follow the ellipse (160 × 140 px in a 240 × 200 frame).
    extent = mesh.bounds[1] - mesh.bounds[0]
    assert extent[0] / extent[1] == pytest.approx(160 / 140, rel=0.06)


def test_thickness_option_changes_depth(tmp_path: Path) -> None:
    image = cutout(tmp_path)
    thin = trimesh.load(generate(image, options={"thickness": 0.4}), force="mesh")
    thick = trimesh.load(generate(image, options={"thickness": "1.6"}), force="mesh")
    depth = lambda m: m.bounds[1, 2] - m.bounds[0, 2]  # noqa: E731
    assert depth(thick) / depth(thin) == pytest.approx(4.0, rel=0.15)
    assert thin.is_watertight and thick.is_watertight


def test_blurred_back_is_a_second_texture_half(tmp_path: Path) -> None:
    image = sample(tmp_path, "astronaut", 256)
    mirrored = trimesh.load(generate(image), force="mesh")
    blurred = trimesh.load(generate(image, options={"back": "blur"}), force="mesh")
    width = lambda m: m.visual.material.baseColorTexture.size[0]  # noqa: E731
    assert width(blurred) == 2 * width(mirrored)
    corner_u = blurred.visual.uv[blurred.faces, 0]
    back = blurred.triangles_center[:, 2] < 0
    assert (corner_u[back] >= 0.5).all()
    assert (corner_u[~back] <= 0.5).all()
    assert is_closed(blurred), "the UV seam at the rim must not open the surface"


def test_texture_off_gives_a_plain_material(tmp_path: Path) -> None:
    path = generate(sample(tmp_path, "coffee", 256), texture=False)
    document = glb_json(path)
    assert "textures" not in document
    assert "TEXCOORD_0" not in document["meshes"][0]["primitives"][0]["attributes"]
    assert trimesh.load(path, force="mesh").is_watertight


def test_without_a_face_limit_the_model_is_detailed_but_bounded(tmp_path: Path) -> None:
    mesh = trimesh.load(generate(sample(tmp_path, "horse", 256), face_limit=None), force="mesh")
    assert 20_000 < len(mesh.faces) <= 50_000


def test_small_face_limit_is_honoured(tmp_path: Path) -> None:
    mesh = trimesh.load(generate(sample(tmp_path, "horse", 256), face_limit=300), force="mesh")
    assert len(mesh.faces) <= 300
    assert mesh.is_watertight


def test_same_seed_gives_the_same_model(tmp_path: Path) -> None:
    image = sample(tmp_path, "chelsea", 256)
    first = generate(image, seed=7).read_bytes()
    assert generate(image, seed=7).read_bytes() == first


def test_grey_image_becomes_a_slab(tmp_path: Path) -> None:
    path = tmp_path / "grey.png"
    Image.new("RGB", (300, 200), (128, 128, 128)).save(path)
    mesh = trimesh.load(generate(path), force="mesh")
    assert mesh.is_watertight
    extent = mesh.bounds[1] - mesh.bounds[0]
    assert extent[0] > 0.9 and extent[1] > 0.6 and extent[2] < 0.15


def test_one_pixel_image_becomes_a_slab(tmp_path: Path) -> None:
    path = tmp_path / "dot.png"
    Image.new("RGB", (1, 1), (200, 30, 30)).save(path)
    mesh = assert_textured(generate(path))
    assert mesh.is_watertight


def test_huge_image_is_downscaled_and_works(tmp_path: Path) -> None:
    path = tmp_path / "huge.jpg"
    Image.fromarray(data.coffee()).resize((6000, 4000)).save(path, quality=80)
    mesh = assert_textured(generate(path))
    assert mesh.is_watertight
    assert max(mesh.visual.material.baseColorTexture.size) <= 2048


def test_fully_transparent_image_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "empty.png"
    Image.new("RGBA", (64, 64), (0, 0, 0, 0)).save(path)
    with pytest.raises(ProviderError) as caught:
        generate(path)
    assert caught.value.code == "NO_OBJECT"


@pytest.mark.parametrize("content", [b"", b"\x89PNG\r\n\x1a\n broken", b"plain text"])
def test_unreadable_image_is_invalid(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "bad.png"
    path.write_bytes(content)
    with pytest.raises(ProviderError) as caught:
        generate(path)
    assert caught.value.code == "INVALID_IMAGE"


@pytest.mark.parametrize(
    ("options", "face_limit"),
    [({"thickness": 9}, FACE_LIMIT), ({"back": "sideways"}, FACE_LIMIT), ({}, 10)],
)
def test_bad_options_are_refused(tmp_path: Path, options: dict[str, Any], face_limit: int) -> None:
    with pytest.raises(ProviderError) as caught:
        generate(cutout(tmp_path), options=options, face_limit=face_limit)
    assert caught.value.code == "INVALID_OPTION"


def test_cancellation_stops_between_steps(tmp_path: Path) -> None:
    context = RecordingContext(cancel_after=2)
    with pytest.raises(Cancelled):
        generate(cutout(tmp_path), context=context)
    assert len(context.reports) == 2
    assert not (tmp_path / "work-cutout" / "model.glb").exists()


def test_declares_its_model_and_options() -> None:
    provider = LocalProvider()
    assert provider.name == "local"
    options = {o.name: o for o in provider.models[0].options}
    assert options["thickness"].kind == "float"
    assert options["back"].choices == ("mirror", "blur")


def degenerate_image(tmp_path: Path, kind: str) -> Path:
    """Flat, thin, tiny and one-colour images: the volumes the inflation finds hardest."""
    path = tmp_path / f"{kind}.png"
    if kind == "grey64":
        Image.new("RGB", (64, 64), (128, 128, 128)).save(path)
    elif kind == "bar":  # a 10 px dark bar across a white frame
        image = Image.new("RGB", (200, 120), (255, 255, 255))
        ImageDraw.Draw(image).rectangle((10, 55, 189, 64), fill=(20, 20, 20))
        image.save(path)
    elif kind == "hairline":  # an opaque line one pixel thin
        image = Image.new("RGBA", (256, 256), (0, 0, 0, 0))
        ImageDraw.Draw(image).line((20, 128, 235, 128), fill=(200, 40, 40, 255), width=1)
        image.save(path)
    elif kind == "speck":  # a few opaque pixels in a transparent frame
        image = Image.new("RGBA", (64, 64), (0, 0, 0, 0))
        ImageDraw.Draw(image).rectangle((30, 30, 34, 34), fill=(40, 200, 40, 255))
        image.save(path)
    elif kind == "tall":
        Image.new("RGB", (4, 1000), (90, 90, 200)).save(path)
    else:
        Image.new("RGB", (2, 2), (0, 0, 0)).save(path)
    return path


@pytest.mark.parametrize("kind", ["grey64", "bar", "hairline", "speck", "tall", "black2"])
@pytest.mark.parametrize(("thickness", "face_limit"), [(0.1, 100), (0.1, 500_000), (3.0, 100)])
def test_documented_extremes_give_a_model_or_a_specific_failure(
    tmp_path: Path, kind: str, thickness: float, face_limit: int
) -> None:
    """Every option value the API accepts, on every kind of degenerate image."""
    image = degenerate_image(tmp_path, kind)
    try:
        model = generate(image, face_limit=face_limit, thickness=thickness)
    except ProviderError as error:
        # Only the smallest budget may be too small for a closed mesh of an extreme frame.
        assert (error.code, face_limit) == ("MESH_FAILED", 100), error.message
        assert "face_limit" in error.message
        return
    mesh = trimesh.load(model, force="mesh")
    assert mesh.is_watertight and mesh.volume > 0
    assert 0 < len(mesh.faces) <= face_limit
