"""Schemathesis against the app's own OpenAPI schema: every default check, negative data too."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ADMIN_KEY, ROOT

EXAMPLES = int(os.environ.get("SCHEMA_FUZZ_EXAMPLES", "100"))


@pytest.mark.timeout(1500)
def test_openapi_fuzzing_finds_nothing(make_stack, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    stack = make_stack(MAX_ACTIVE_JOBS_PER_KEY="0", MAX_UPLOAD_SIZE="200000")
    stack.start_worker(concurrency=1)
    executable = Path(sys.executable).parent / "schemathesis"
    log = (tmp_path / "schemathesis.out").open("w")
    result = subprocess.run(
        [
            str(executable),
            "run",
            f"{stack.base_url}/openapi.json",
            "--header",
            f"Authorization: Bearer {ADMIN_KEY}",
            "--max-examples",
            str(EXAMPLES),
            "--mode",
            "all",
            "--phases",
            "examples,coverage,fuzzing",
            "--seed",
            "20261127",
            "--generation-database",
            "none",
            "--request-timeout",
            "30",
            "--workers",
            "1",
            "--no-color",
            # an event stream stays open until its job ends: not a request/response operation
            "--exclude-path-regex",
            "/stream$",
            "--report-dir",
            str(tmp_path / "report"),
        ],
        env={
            **os.environ,
            "SCHEMATHESIS_HOOKS": "tests.security.schema_hooks",
            "PYTHONPATH": str(ROOT),
        },
        stdout=log,
        stderr=subprocess.STDOUT,
        timeout=1200,
        cwd=tmp_path,
    )
    output = (tmp_path / "schemathesis.out").read_text()
    assert result.returncode == 0, output[-20000:]
