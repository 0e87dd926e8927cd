"""A provider's other files keep a name of their own in the results, even where two places in
its result read alike once made safe for a file name."""

from __future__ import annotations

from pathlib import Path

from image2model.jobs.pipeline import keep_outputs


def test_each_output_gets_its_own_file(tmp_path: Path) -> None:
    work, results = tmp_path / "work", tmp_path / "results"
    work.mkdir()
    results.mkdir()
    files = {}
    for index, name in enumerate(("model_urls.fbx", "model_urls-fbx", "textures.0")):
        path = work / f"out-{index}.bin"
        path.write_bytes(bytes(index + 1))
        files[name] = path
    kept = keep_outputs(files, results, "chair")
    assert [(o.name, o.file, o.size) for o in kept] == [
        ("model_urls.fbx", "chair-model_urls-fbx.bin", 1),
        ("model_urls-fbx", "chair-model_urls-fbx-2.bin", 2),
        ("textures.0", "chair-textures-0.bin", 3),
    ]
    assert sorted(p.name for p in results.iterdir()) == sorted(o.file for o in kept)
    assert list(work.iterdir()) == []
