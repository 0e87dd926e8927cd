"""`image2model generate`: in-process models per image, errors per image, files where it says."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest
import trimesh
from PIL import Image
from skimage import data

from image2model.cli import main


@pytest.fixture
def photos(tmp_path: Path) -> list[Path]:
    cup = tmp_path / "in" / "cup.jpg"
    cup.parent.mkdir()
    Image.fromarray(data.coffee()).resize((300, 200)).save(cup, quality=90)
    broken = tmp_path / "in" / "broken.png"
    broken.write_bytes(b"not an image at all")
    cat = tmp_path / "in" / "other" / "cup.jpg"  # same name: must not overwrite the first
    cat.parent.mkdir()
    Image.fromarray(data.chelsea()).resize((300, 200)).save(cat, quality=90)
    return [cup, broken, cat]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["generate", *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_each_image_gets_its_files_and_failures_do_not_stop_the_rest(
    photos: list[Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    args = ["-o", str(out), "--format", "glb,obj,stl,ply", "--face-limit", "3000"]
    code, stdout, stderr = run(capsys, *map(str, photos), *args, "--provider", "local")
    assert code == 1
    assert "broken.png: failed: UNSUPPORTED_MEDIA_TYPE" in stderr
    assert "2 of 3 models written" in stdout
    expected = {
        f"{stem}{suffix}"
        for stem in ("cup", "cup-2")
        for suffix in (".glb", ".obj.zip", ".stl", ".ply", ".png")
    }
    # Only deliverables in the output directory: working files live in a temporary one.
    assert {p.name for p in out.iterdir()} == expected
    for name in ("cup.glb", "cup-2.glb", "cup.stl", "cup-2.ply"):
        mesh = trimesh.load(out / name, force="mesh")
        assert mesh.is_watertight
        assert len(mesh.faces) <= 3000
        assert str(out / name) in stdout
    with zipfile.ZipFile(out / "cup.obj.zip") as archive:
        assert {"cup.obj", "cup.mtl"} <= set(archive.namelist())
    assert "[########################] 100%" in stderr


def test_all_good_exits_zero_with_glb_by_default(
    photos: list[Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    code, stdout, _ = run(capsys, str(photos[0]), "-o", str(out), "--provider", "local")
    assert code == 0
    assert sorted(p.name for p in out.iterdir()) == ["cup.glb", "cup.png"]
    assert f"{photos[0]} -> {out / 'cup.glb'}, {out / 'cup.png'}" in stdout


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--format", "glb,dae"], "unknown format 'dae'"),
        (["--provider", "nonexistent"], "unknown provider 'nonexistent'"),
    ],
)
def test_usage_errors_exit_two_before_any_work(
    photos: list[Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    extra: list[str],
    message: str,
) -> None:
    out = tmp_path / "out"
    code, _, stderr = run(capsys, str(photos[0]), "-o", str(out), *extra)
    assert code == 2
    assert message in stderr
    assert not out.exists() or not any(out.iterdir())


def test_formats_for_printers_phones_and_engines(
    photos: list[Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    args = ["-o", str(out), "--format", "3mf,usdz,fbx", "--face-limit", "2000"]
    code, _, stderr = run(capsys, str(photos[0]), *args, "--provider", "local")
    assert code == 0, stderr
    assert sorted(p.name for p in out.iterdir()) == ["cup.3mf", "cup.fbx", "cup.png", "cup.usdz"]
    assert (out / "cup.fbx").read_bytes().startswith(b"Kaydara FBX Binary")
    assert zipfile.is_zipfile(out / "cup.3mf") and zipfile.is_zipfile(out / "cup.usdz")


def test_fbx_without_its_converter_is_a_usage_error_saying_why(
    photos: list[Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ASSIMP_COMMAND", "/nonexistent/assimp")
    out = tmp_path / "out"
    code, _, stderr = run(capsys, str(photos[0]), "-o", str(out), "--format", "glb,fbx")
    assert code == 2
    assert "cannot write fbx: FBX needs ASSIMP_COMMAND=/nonexistent/assimp" in stderr
    assert stderr.count("\n") == 1, "one line"


def test_the_shape_is_chosen_on_the_command_line(
    photos: list[Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cup = str(photos[0])
    depth = {}
    for shape in ("slab", "inflate"):
        out = tmp_path / shape
        code, _, _ = run(capsys, cup, "-o", str(out), "--provider", "local", "--shape", shape)
        assert code == 0
        mesh = trimesh.load(out / "cup.glb", force="mesh")
        depth[shape] = mesh.extents[2] / mesh.extents[0]
    assert depth["slab"] < 0.5 * depth["inflate"]
    code, _, stderr = run(capsys, cup, "--provider", "fal", "--shape", "slab")
    assert code == 2 and "--shape applies to the offline generator" in stderr
