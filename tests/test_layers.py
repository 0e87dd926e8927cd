"""The package's layers, as `[tool.importlinter]` in pyproject.toml lists them: no module
imports one of a layer above its own (the API and workers over the job layer, over the
providers, over the meshes, over settings, keys and storage)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_no_module_imports_a_layer_above_its_own() -> None:
    checker = Path(sys.executable).parent / "lint-imports"
    result = subprocess.run(
        [str(checker), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "1 kept, 0 broken" in result.stdout
